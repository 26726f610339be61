/**
 * Admission of password verifications, so that a login storm cannot starve real users.
 *
 * A verification (bcrypt at cost 10 is ~60 ms of CPU) is the one thing a client can make the
 * broker do per CONNECT at little cost to itself. Unbounded, 1,000 CONNECTs of unknown users sent
 * in a quarter of a second and closed at once kept the thread pool busy for a minute, and a real
 * user waited behind them until its CONNACK 0x03. The gate bounds that work:
 *
 *   max-concurrent-auth           verifications running at once (libuv's pool has 4 threads);
 *                                 more wait in a FIFO queue
 *   max-pending-auth              running + queued, whole broker: beyond it CONNACK 0x03 at once
 *   max-pending-auth-per-address  running + queued from one address: beyond it CONNACK 0x03 at
 *                                 once, so one address never fills the queue for the others
 *   max-auth-failures-per-address failed logins answered to one address within
 *   auth-failure-window           auth-failure-window seconds: further CONNECTs from it get
 *                                 0x05 without any verification until the window ends
 *
 * A queued verification whose socket closes is dropped before it starts: a storm of CONNECTs
 * closed at once costs at most max-concurrent-auth verifications at a time. A failure counts
 * towards the rate limit only when its answer reached the client: a closed socket learned
 * nothing, and counting it would let a storm from a shared address (NAT, a gateway, loopback in
 * tests) lock out the real users behind it.
 *
 * Every operation is O(1) (amortised: dropped entries are skipped, and swept when they outnumber
 * the live ones).
 */
import type { LimitsConfig } from '../config/types';
import { Fifo } from '../sessions/fifo';

export enum AuthSlot {
  NONE = 0,
  QUEUED = 1,
  RUNNING = 2,
}

/** What the gate needs of a connection. */
export interface GatedClient {
  authSlot: AuthSlot;
  /** Peer address without port: the unit of the per-address limits. */
  readonly peerHost: string;
  /** Called when the client's turn comes after it was queued. */
  startQueuedAuthentication(): void;
}

export enum Admission {
  /** Start verifying now. */
  RUN = 0,
  /** Wait: the gate calls startQueuedAuthentication() when a slot frees. */
  QUEUED = 1,
  /** At max-pending-auth or max-pending-auth-per-address: CONNACK 0x03. */
  BUSY = 2,
  /** Too many failed logins from this address lately: CONNACK 0x05. */
  BLOCKED = 3,
}

interface FailureWindow {
  start: number;
  count: number;
}

/** Beyond this many addresses with failures on record, expired records are swept. */
const FAILURE_RECORDS_SWEEP = 10_000;

export class AuthGate<C extends GatedClient> {
  private running = 0;
  private queued = 0;
  private readonly queue = new Fifo<C>();
  /** Entries in `queue` dropped since they were queued (closed sockets), skipped when reached. */
  private dropped = 0;
  private readonly pendingByHost = new Map<string, number>();
  private readonly failures = new Map<string, FailureWindow>();
  private readonly windowMs: number;

  constructor(private readonly limits: LimitsConfig) {
    this.windowMs = limits.authFailureWindow * 1000;
  }

  /** Verifications running and waiting, for stats. */
  get pending(): number {
    return this.running + this.queued;
  }

  private exempt(host: string): boolean {
    return this.limits.authLimitsExemptLoopback && isLoopback(host);
  }

  admit(client: C, now = Date.now()): Admission {
    const host = client.peerHost;
    const limits = this.limits;
    const exempt = this.exempt(host);
    if (!exempt && limits.maxAuthFailuresPerAddress > 0) {
      const w = this.failures.get(host);
      if (w !== undefined && w.count >= limits.maxAuthFailuresPerAddress && now - w.start < this.windowMs) return Admission.BLOCKED;
    }
    if (this.running + this.queued >= limits.maxPendingAuth) return Admission.BUSY;
    const fromHost = this.pendingByHost.get(host) ?? 0;
    if (!exempt && limits.maxPendingAuthPerAddress > 0 && fromHost >= limits.maxPendingAuthPerAddress) return Admission.BUSY;
    this.pendingByHost.set(host, fromHost + 1);
    if (this.running < limits.maxConcurrentAuth) {
      this.running++;
      client.authSlot = AuthSlot.RUNNING;
      return Admission.RUN;
    }
    this.queued++;
    client.authSlot = AuthSlot.QUEUED;
    this.queue.push(client);
    return Admission.QUEUED;
  }

  /** The verification of `client` settled (or was given up): its slot goes to the next in line. */
  finished(client: C): void {
    if (client.authSlot !== AuthSlot.RUNNING) return;
    client.authSlot = AuthSlot.NONE;
    this.running--;
    this.release(client.peerHost);
    this.next();
  }

  /**
   * The client's socket closed. A queued verification is dropped before it starts; a running one
   * keeps its slot until it settles (the CPU is busy with it either way).
   */
  closed(client: C): void {
    if (client.authSlot !== AuthSlot.QUEUED) return;
    client.authSlot = AuthSlot.NONE;
    this.queued--;
    this.dropped++;
    this.release(client.peerHost);
    if (this.dropped > 64 && this.dropped > this.queued) this.sweep();
  }

  /** A refusal (0x04/0x05) reached a client from `host`. */
  failed(host: string, now = Date.now()): void {
    if (this.limits.maxAuthFailuresPerAddress === 0 || this.exempt(host)) return;
    const w = this.failures.get(host);
    if (w !== undefined && now - w.start < this.windowMs) {
      w.count++;
      return;
    }
    if (w !== undefined) this.failures.delete(host);
    else if (this.failures.size >= FAILURE_RECORDS_SWEEP) this.sweepFailures(now);
    this.failures.set(host, { start: now, count: 1 });
  }

  private release(host: string): void {
    const n = (this.pendingByHost.get(host) ?? 1) - 1;
    if (n <= 0) this.pendingByHost.delete(host);
    else this.pendingByHost.set(host, n);
  }

  private next(): void {
    const max = this.limits.maxConcurrentAuth;
    while (this.running < max && this.queued > 0) {
      const client = this.queue.shift()!;
      if (client.authSlot !== AuthSlot.QUEUED) {
        this.dropped--;
        continue;
      }
      this.queued--;
      this.running++;
      client.authSlot = AuthSlot.RUNNING;
      client.startQueuedAuthentication();
    }
    if (this.queued === 0) {
      this.queue.clear();
      this.dropped = 0;
    }
  }

  /** Drops the entries of closed sockets from the queue (they would otherwise hold their connections). */
  private sweep(): void {
    const n = this.queue.length;
    for (let i = 0; i < n; i++) {
      const client = this.queue.shift()!;
      if (client.authSlot === AuthSlot.QUEUED) this.queue.push(client);
    }
    this.dropped = 0;
  }

  private sweepFailures(now: number): void {
    for (const [host, w] of this.failures) if (now - w.start >= this.windowMs) this.failures.delete(host);
    // Still full of live records (a distributed attack): the oldest goes.
    if (this.failures.size >= FAILURE_RECORDS_SWEEP) this.failures.delete(this.failures.keys().next().value!);
  }
}

export function isLoopback(host: string): boolean {
  return host === '::1' || host.startsWith('127.') || host.startsWith('::ffff:127.');
}
