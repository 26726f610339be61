import { encodeConnackFor } from '../protocol/encoder';
import { CloseReason, connackReasonCode, disconnectReasonCode } from '../protocol/reason-codes';
import { acquireParser, type PacketParser, releaseParser } from '../protocol/parser';
import type { Properties, WillMessage } from '../protocol/packets';
import type { Session } from '../sessions/session';
import type { Transport } from './transport';
import { AuthSlot } from '../auth/auth-gate';
import type { ConnectionHost } from './host';
import { type ClientLink, type ClientV5Settings, ConnectionState, Pause } from './link';
import { connackWithReason, disconnectWithReason, reasonStringFor } from './reason-strings';

export { ConnectionState, Pause } from './link';

let connectionSeq = 0;

/** Seconds an authentication plugin may take before the client gets CONNACK 0x03. */
const AUTH_TIMEOUT_S = 60;

/**
 * One client connection: the transport, the streaming parser, protocol state, timers and the
 * outbound batch. Packets are processed strictly in order, one at a time, so acknowledgements and
 * deliveries keep the order of arrival [MQTT-4.6.0-2/3/6]; an asynchronous step (authentication,
 * a plugin) pauses processing rather than letting later packets overtake it.
 */
export class Connection implements ClientLink {
  readonly id = ++connectionSeq;
  state = ConnectionState.AWAIT_CONNECT;
  clientId = '';
  username: string | null = null;
  protocolLevel = 0;
  v5: ClientV5Settings | null = null;
  keepalive = 0;
  cleanSession = true;
  connectedAt = 0;
  session: Session | null = null;
  will: WillMessage | null = null;
  closeReason: CloseReason | '' = '';
  /**
   * Fields most connections never set (TLS identity, queued or plugin authentication, MQTT 5
   * enhanced authentication, cluster lease, assigned id): created by the first setter that stores
   * something other than the default, so that an idle connection does not carry them (issue 14).
   */
  private rare: ConnectionRareFields | null = null;
  /**
   * The streaming parser, present while bytes are buffered: a connection with nothing pending
   * (an idle one) gives it back to the parsers' spare pool and takes one with its next bytes.
   */
  private parser: PacketParser | null = null;
  /** Backpressure state (engine/backpressure.ts), opaque here; null until it takes part in backpressure. */
  flow: object | null = null;
  /** Retained messages still to send for new subscriptions (engine/retained-delivery.ts), opaque here. */
  retainedJobs: object | null = null;

  private paused = 0;
  private timer: NodeJS.Timeout | null = null;
  /**
   * Output queued this turn: a single buffer waits in `outOne` (most subscribers get one message a
   * turn: no array for them), a second one moves both into the `out` array.
   */
  private outOne: Buffer | null = null;
  private out: Buffer[] | null = null;
  private outBytes = 0;
  /** QoS 0/1 deliveries that may leave before the group commit (see sendEarly). */
  private early: Buffer[] | null = null;
  private earlyBytes = 0;
  /** True while registered with the host's output batch (set here, cleared by flush/flushEarly). */
  flushPending = false;

  constructor(
    readonly host: ConnectionHost<Connection>,
    readonly transport: Transport,
    readonly listener: string,
    /** Told when this connection closes (the listener counts its connections). */
    readonly owner: { release(conn: Connection): void } | null = null,
  ) {
    // Shared handler functions find their connection through the transport: no closures per
    // connection (an idle connection should cost little more than its socket).
    (transport as ConnectionHolder)[kConnection] = this;
    transport.on('data', onTransportData);
    transport.on('drain', onTransportDrain);
    transport.on('error', ignoreError);
    transport.on('close', onTransportClose);
    // [unnumbered §3.1.4 step 1] a socket that sends no CONNECT in time is closed.
    if (host.limits.connectTimeout > 0) {
      this.timer = setTimeout(onTimer, host.limits.connectTimeout * 1000, this);
    }
  }

  /**
   * `host:port` of the peer, built when asked (events, plugins, the admin API) and not kept: an
   * idle connection nobody asks about does not carry the string; Node caches the peer address.
   */
  get remoteAddress(): string {
    const t = this.transport;
    return t.remoteAddress ? `${t.remoteAddress}:${t.remotePort ?? 0}` : 'unknown';
  }

  private rareFields(): ConnectionRareFields {
    return (this.rare ??= new ConnectionRareFields());
  }

  /** MQTT 5: the client sent an empty id and we assigned `clientId` (CONNACK returns it). */
  get assignedClientId(): boolean {
    return this.rare?.assignedClientId ?? false;
  }
  set assignedClientId(value: boolean) {
    if (value || this.rare !== null) this.rareFields().assignedClientId = value;
  }

  /** Cluster: the fencing token of this connection's client id lease; null on a single node. */
  get clusterToken(): string | null {
    return this.rare?.clusterToken ?? null;
  }
  set clusterToken(value: string | null) {
    if (value !== null || this.rare !== null) this.rareFields().clusterToken = value;
  }

  /** Subject CN of a verified TLS client certificate. */
  get certificateCommonName(): string | null {
    return this.rare?.certificateCommonName ?? null;
  }
  set certificateCommonName(value: string | null) {
    if (value !== null || this.rare !== null) this.rareFields().certificateCommonName = value;
  }

  /** The listener takes the certificate's CN as the username (use-identity-as-username). */
  get identityIsUsername(): boolean {
    return this.rare?.identityIsUsername ?? false;
  }
  set identityIsUsername(value: boolean) {
    if (value || this.rare !== null) this.rareFields().identityIsUsername = value;
  }

  /** Where this connection stands in the engine's AuthGate. */
  get authSlot(): AuthSlot {
    return this.rare?.authSlot ?? AuthSlot.NONE;
  }
  set authSlot(value: AuthSlot) {
    if (value !== AuthSlot.NONE || this.rare !== null) this.rareFields().authSlot = value;
  }

  /** The CONNECT's password while its verification waits in the AuthGate queue. */
  get authPassword(): Buffer | null {
    return this.rare?.authPassword ?? null;
  }
  set authPassword(value: Buffer | null) {
    if (value !== null || this.rare !== null) this.rareFields().authPassword = value;
  }

  /** MQTT 5: the CONNECT's properties until the authentication plugins have seen them. */
  get authProperties(): Properties | null {
    return this.rare?.authProperties ?? null;
  }
  set authProperties(value: Properties | null) {
    if (value !== null || this.rare !== null) this.rareFields().authProperties = value;
  }

  /** MQTT 5 enhanced authentication (handlers/auth.ts EnhancedAuth), opaque here; null without an Authentication Method. */
  get enhancedAuth(): object | null {
    return this.rare?.enhancedAuth ?? null;
  }
  set enhancedAuth(value: object | null) {
    if (value !== null || this.rare !== null) this.rareFields().enhancedAuth = value;
  }

  /**
   * CONNECT is in and its authentication starts. Only now does the peer's end of stream matter
   * (onTransportEnded): the listener is added here and removed at CONNACK rather than held by
   * every connection for its whole life (a second 'end' listener costs an array per socket).
   */
  beginAuthentication(): void {
    this.state = ConnectionState.AUTHENTICATING;
    this.transport.on('end', onTransportEnd);
  }

  /** Authentication succeeded: the connection is live (see beginAuthentication). */
  markConnected(): void {
    this.state = ConnectionState.CONNECTED;
    this.transport.off('end', onTransportEnd);
  }

  /** The AuthGate's turn for a CONNECT whose verification waited in its queue. */
  startQueuedAuthentication(): void {
    this.host.dispatcher.authenticationTurn(this);
  }

  /** Peer address without port (the unit of per-address limits). */
  get peerHost(): string {
    return this.transport.remoteAddress ?? 'unknown';
  }

  get isOpen(): boolean {
    return this.state !== ConnectionState.CLOSED;
  }

  /** Bytes queued for this client and not yet taken by the kernel. */
  get bufferedBytes(): number {
    return this.outBytes + this.earlyBytes + this.transport.writableLength;
  }

  onData(chunk: Buffer): void {
    if (this.state === ConnectionState.CLOSED) return;
    this.host.stats.bytesReceived += chunk.length;
    // Any packet (not just PINGREQ) proves the client alive [MQTT-3.1.2-24]; refresh is cheap.
    if (this.timer !== null && this.state === ConnectionState.CONNECTED) this.timer.refresh();
    let parser = this.parser;
    if (parser === null) {
      const limits = this.host.limits;
      // Until CONNECT is in, the client is unknown: its first packet may only be small
      // (max-connect-packet-size), refused as soon as its Remaining Length is read.
      parser = this.parser = acquireParser(
        limits.maxPacketSize,
        this.state === ConnectionState.AWAIT_CONNECT ? limits.maxConnectPacketSize : limits.maxPacketSize,
        this.protocolLevel !== 0 ? this.protocolLevel : 4,
        limits.maxFiltersPerSubscribe,
      );
    }
    parser.push(chunk);
    this.process();
  }

  /** Decode and handle buffered packets until none is complete, the connection closes or pauses. */
  process(): void {
    const parser = this.parser;
    if (parser === null) return;
    while (this.paused === 0 && this.state !== ConnectionState.CLOSED) {
      let packet;
      try {
        packet = parser.next();
      } catch (err) {
        this.host.dispatcher.handleFailure(this, err);
        return;
      }
      if (packet === null) {
        if (parser.bufferedBytes === 0 && this.parser === parser) {
          this.parser = null;
          releaseParser(parser);
        }
        return;
      }
      this.host.dispatcher.handlePacket(this, packet);
    }
  }

  pause(reason: Pause): void {
    if (this.paused === 0) this.transport.pause();
    this.paused |= reason;
  }

  resume(reason: Pause): void {
    if ((this.paused & reason) === 0) return;
    this.paused &= ~reason;
    if (this.paused === 0 && this.state !== ConnectionState.CLOSED) {
      this.transport.resume();
      // Packets may already sit decoded-ready in the parser's buffer.
      this.process();
    }
  }

  isPaused(reason: Pause): boolean {
    return (this.paused & reason) !== 0;
  }

  /**
   * Queue bytes for this client; written in one batch per event-loop turn. With a durable store
   * they leave only after the group commit: acknowledgements (and anything after them) must not
   * reach the client before the state that justifies them is stored.
   */
  send(data: Buffer): void {
    if (this.transport.destroyed) return;
    const out = this.out;
    if (out !== null) out.push(data);
    else if (this.outOne === null) this.outOne = data;
    else {
      this.out = [this.outOne, data];
      this.outOne = null;
    }
    this.outBytes += data.length;
    if (!this.flushPending) {
      this.flushPending = true;
      this.host.scheduleFlush(this);
    }
  }

  /**
   * Queue a QoS 0/1 delivery, which depends on no uncommitted state: it may leave before the
   * group commit (a crash before the commit leaves the publisher without its PUBACK, so it
   * re-sends: at most a duplicate, which QoS 1 allows). Behind held output it waits in line.
   */
  sendEarly(data: Buffer): void {
    if (!this.host.durable || this.holdsOutput) return this.send(data);
    if (this.transport.destroyed) return;
    if (this.early === null) this.early = [data];
    else this.early.push(data);
    this.earlyBytes += data.length;
    if (!this.flushPending) {
      this.flushPending = true;
      this.host.scheduleFlush(this);
    }
  }

  /** Write what may leave before the commit; true when output waits for the commit. */
  flushEarly(): boolean {
    this.flushPending = false;
    const early = this.early;
    if (early !== null && early.length > 0 && !this.transport.destroyed) {
      const bytes = this.earlyBytes;
      this.earlyBytes = 0;
      this.write(early, bytes);
    }
    return this.holdsOutput;
  }

  /** Output queued by send() (after the commit) is waiting. */
  private get holdsOutput(): boolean {
    return this.outOne !== null || (this.out !== null && this.out.length > 0);
  }

  /** Write the batch: one write (one syscall) for everything queued, after the commit. */
  flush(): void {
    this.flushPending = false;
    if (!this.holdsOutput || this.transport.destroyed) {
      this.flushEarly();
      return;
    }
    if (!this.host.tryCommit()) return this.abort(CloseReason.StoreFailure);
    const early = this.early;
    // Counters are reset before writing: write() may run handlers (a drained socket resumes a
    // publisher) that queue new output for this very connection.
    const bytes = this.earlyBytes + this.outBytes;
    this.earlyBytes = 0;
    this.outBytes = 0;
    const one = this.outOne;
    if (one !== null) this.outOne = null;
    if (early !== null && early.length > 0) {
      // Early output was queued before anything held: it goes first, in one write.
      if (one !== null) early.push(one);
      else {
        const out = this.out!;
        for (let i = 0; i < out.length; i++) early.push(out[i]);
        out.length = 0;
        this.out = null;
      }
      this.write(early, bytes);
    } else if (one !== null) {
      this.writeData(one, bytes);
    } else {
      this.write(this.out!, bytes);
    }
  }

  /** One socket write of `parts` (emptied here); the caller has already zeroed its counters. */
  private write(parts: Buffer[], bytes: number): void {
    const data = parts.length === 1 ? parts[0] : Buffer.concat(parts, bytes);
    parts.length = 0;
    // Arrays are made again on the next send: an idle connection keeps none.
    if (parts === this.out) this.out = null;
    else if (parts === this.early) this.early = null;
    this.writeData(data, bytes);
  }

  /** One socket write of `data` (`bytes` long), with the backpressure bookkeeping. */
  private writeData(data: Buffer, bytes: number): void {
    this.host.stats.bytesSent += bytes;
    if (!this.transport.write(data)) {
      // The client does not read what we send (its acks included): stop reading what it sends.
      if (this.transport.writableLength > this.host.limits.maxWriteBuffer) this.pause(Pause.WRITE);
    } else if (this.flow !== null || this.retainedJobs !== null) {
      // The kernel took everything: no 'drain' will come, so the publishers held back for this
      // turn's batch (and retained messages waiting for room) may go on now.
      this.host.writeCompleted(this);
    }
  }

  onDrain(): void {
    this.resume(Pause.WRITE);
    this.host.drained(this);
  }

  /** While authentication runs: a long timeout instead of connect-timeout (see handleConnect). */
  startAuthTimeout(): void {
    this.clearTimer();
    this.timer = setTimeout(onTimer, AUTH_TIMEOUT_S * 1000, this);
  }

  startKeepalive(seconds: number): void {
    this.clearTimer();
    if (seconds > 0) {
      // [MQTT-3.1.2-24] 1.5 x keepalive; hbmqtt's timeout-disconnect-delay may only lengthen it.
      const ms = Math.max(seconds * 1500, (seconds + this.host.config.timeoutDisconnectDelay) * 1000);
      this.timer = setTimeout(onTimer, ms, this);
    }
  }

  onTimeout(): void {
    // [MQTT-3.1.2-24] while we hold its input back (throttled, or awaiting a plugin) its packets
    // cannot reach us: that is no sign of a dead client, so wait for a full period after resuming.
    if (this.state === ConnectionState.CONNECTED && (this.paused & (Pause.THROTTLE | Pause.AUTH | Pause.PLUGIN)) !== 0) return void this.timer!.refresh();
    this.timer = null;
    if (this.state === ConnectionState.CONNECTED) {
      this.host.stats.closedKeepalive++;
      this.close(CloseReason.Keepalive);
    } else if (this.state === ConnectionState.AUTHENTICATING) {
      // No verdict in time: refused as "server unavailable", never left without CONNACK.
      const code = connackReasonCode(CloseReason.AuthTimeout)!;
      const connack = this.v5 !== null ? connackWithReason(this.v5, code, reasonStringFor(CloseReason.AuthTimeout)) : encodeConnackFor(false, code, this.protocolLevel);
      if (connack !== null) {
        this.host.stats.reasonCodesSent.connack[code]++;
        this.send(connack);
      }
      this.close(CloseReason.AuthTimeout);
    } else {
      this.host.stats.closedConnectTimeout++;
      this.close(CloseReason.ConnectTimeout);
    }
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /**
   * End this connection: flush what is queued, then close the socket. Everything but a clean
   * DISCONNECT publishes the Will [MQTT-3.1.2-8]; the DISCONNECT handler clears it first.
   * `reasonString` (a v5 DISCONNECT's Reason String) replaces the close reason's own.
   */
  close(reason: CloseReason, reasonCode?: number, reasonString?: string): void {
    if (this.state === ConnectionState.CLOSED) return;
    this.closeReason = reason;
    const wasConnected = this.state === ConnectionState.CONNECTED;
    this.state = ConnectionState.CLOSED;
    this.clearTimer();
    // MQTT 5 tells a connected client why the server closes (3.1.1 has no server DISCONNECT).
    if (wasConnected && this.protocolLevel === 5) this.sendDisconnect(reason, reasonCode, reasonString);
    this.flush();
    this.transport.destroySoon();
    this.host.connectionClosed(this, wasConnected);
    this.owner?.release(this);
  }

  /** v5 [MQTT-3.14.0-1] DISCONNECT with the close reason's Reason Code, when it has one, counted. */
  private sendDisconnect(reason: CloseReason, reasonCode: number | undefined, reasonString: string | undefined): void {
    const code = reasonCode ?? disconnectReasonCode(reason);
    if (code === null || this.transport.destroyed) return;
    this.host.stats.reasonCodesSent.disconnect[code]++;
    this.send(disconnectWithReason(this.v5, code, reasonString ?? reasonStringFor(reason)));
  }

  /** Close without sending what is queued (it must not leave: e.g. acks whose state is not stored). */
  abort(reason: CloseReason): void {
    this.outOne = null;
    this.out = null;
    this.outBytes = 0;
    this.early = null;
    this.earlyBytes = 0;
    this.closeReason = reason;
    this.transport.destroy();
    this.close(reason);
  }

  /**
   * The peer closed its side. Node closes ours anyway (no half-open sockets), but only a turn or
   * two later: a CONNECT awaiting its verification is given up now, so that a storm of
   * connect-and-close clients never starts a password hash (see auth/auth-gate.ts).
   */
  onTransportEnded(): void {
    if (this.state === ConnectionState.AUTHENTICATING) this.close(CloseReason.Closed);
  }

  onTransportClosed(): void {
    this.close(this.closeReason || CloseReason.Closed);
    this.outOne = null;
    this.out = null;
    this.early = null;
  }
}

/** Connection fields rarely set (see Connection.rare); every field at the connection's default. */
class ConnectionRareFields {
  assignedClientId = false;
  clusterToken: string | null = null;
  certificateCommonName: string | null = null;
  identityIsUsername = false;
  authSlot = AuthSlot.NONE;
  authPassword: Buffer | null = null;
  authProperties: Properties | null = null;
  enhancedAuth: object | null = null;
}

const kConnection = Symbol('nestmq.connection');
type ConnectionHolder = Transport & { [kConnection]: Connection };

function onTransportData(this: ConnectionHolder, chunk: Buffer): void {
  this[kConnection].onData(chunk);
}

function onTransportDrain(this: ConnectionHolder): void {
  this[kConnection].onDrain();
}

function onTransportClose(this: ConnectionHolder): void {
  this[kConnection].onTransportClosed();
}

function onTransportEnd(this: ConnectionHolder): void {
  this[kConnection].onTransportEnded();
}

/** ECONNRESET and friends: the close event follows and does the work. */
function ignoreError(): void {}

function onTimer(conn: Connection): void {
  conn.onTimeout();
}
