/**
 * MessageBus over one Redis Stream per node (`<prefix>:{n:<id>}:in`).
 *
 * Why Streams and not pub/sub: a PUBLISH to a channel whose subscriber is reconnecting is lost,
 * so a QoS 1 message routed during a one-second network blip would vanish after the publisher got
 * its PUBACK. A stream keeps it (up to MAXLEN ~ entries) and the reader resumes from the last id it
 * processed. The cost is memory in Redis for the retained tail, bounded by MAXLEN.
 *
 * Hot path: send() encodes the message once, appends the same frame to each destination's outbox
 * and returns; no promise, no closure. Once per event-loop turn (setImmediate) flush() sends one
 * pipeline holding ONE XADD per destination node carrying every frame of the turn for it (split at
 * maxEntryBytes), so the Redis cost is per turn and per destination, not per message.
 * Order: frames from one sender to one node keep their order (one connection, one pipeline, frames
 * concatenated in send order).
 *
 * Cross-node flow control (cluster-flow.ts): the reader can be paused (pauseReading) between two
 * frames, as a paused socket stops reading a publisher: it keeps the rest of the XREAD reply it
 * holds (at most readCount entries) and reads the stream on once resumed; the entries not read yet
 * stay in Redis. Flow signals ('busy' / 'clear' for the sending node) are entries of their own,
 * `o` = sender, `f` = '1' or '0', written at once (a transition, never per message).
 */
import type Redis from 'ioredis';
import { ClusterCodecError, decodeFrames, encodeFrame } from './codec';
import { ClusterKeys } from './keys';
import { closeConnection, type RedisFactory, whenReady, settleWithin } from './redis-connection';
import type { BatchHandler, ClusterMessage, MessageBus, MessageHandler } from './types';

/** How long close() waits for a pending write or the read loop before cutting the connections. */
const CLOSE_WAIT_MS = 2000;

/** Entry bytes delivered per event-loop turn before the reader lets the loop go round (deliverHeld). */
const TURN_BYTES = 256 * 1024;

export interface RedisMessageBusOptions {
  nodeId: string;
  connect: RedisFactory;
  keys?: ClusterKeys;
  /** Approximate cap of entries (batches) kept per inbox: MAXLEN ~. */
  maxLen?: number;
  /** A stream entry carries at most this many bytes of frames; larger turns use several entries. */
  maxEntryBytes?: number;
  /** Entries read per XREAD. */
  readCount?: number;
  /** XREAD BLOCK timeout: how long a silent connection goes unnoticed at most. */
  blockMs?: number;
  /**
   * Strict durability (persistence.redis-wait-replicas): each batch's pipeline ends with
   * `WAIT waitReplicas waitTimeoutMs`; fewer replicas in time fails the batch (its QoS 1/2
   * acknowledgements are not sent), as for the session store. 0: no WAIT.
   */
  waitReplicas?: number;
  waitTimeoutMs?: number;
}

export interface MessageBusStats {
  sentMessages: number;
  sentEntries: number;
  sentBatches: number;
  /** Messages not sent because Redis was unreachable (batch reported not ok). */
  droppedMessages: number;
  receivedMessages: number;
  /** Entries that failed to decode (skipped). */
  malformedEntries: number;
  /** Times the reader found entries trimmed before it read them (it was too far behind). */
  gaps: number;
  /** Frame bytes of the entries Redis accepted (payloads and framing, not the command's). */
  sentBytes: number;
  /** Batches (one per turn) Redis did not accept. */
  failedBatches: number;
  /** Batches failed because WAIT found fewer replicas than persistence.redis-wait-replicas in time. */
  waitShort: number;
  /** Times the reader was paused by cross-node flow control (a local subscriber over its queue). */
  readPauses: number;
  /** Flow signals (busy / clear) written to other nodes' inboxes, and read from ours. */
  flowSignalsSent: number;
  flowSignalsReceived: number;
  /** Directed entries (an adopter's forward of a dead inbox's messages for one client) sent and read. */
  directedSent: number;
  directedReceived: number;
}

/**
 * Called with a directed entry read from this node's inbox: frames an adopter forwards for ONE
 * session (client id and the lease token it was forwarded to), not for the plain subscriptions.
 */
export type DirectedHandler = (origin: string, clientId: string, token: string, body: Buffer) => void;

/** Called when a node tells this one to hold (busy) or go on (clear) with what it sends there. */
export type FlowHandler = (node: string, busy: boolean) => void;

/** One entry of an XREAD reply: id, flat fields. */
type StreamEntry = [Buffer, Buffer[]];

/** Per-destination frames of the open batch; kept across turns, emptied by flush(). */
class Outbox {
  readonly key: string;
  frames: Buffer[] = [];
  bytes = 0;
  /** The route-log position this node had applied when the batch's first frame was routed ('' = none known). */
  route = '';
  constructor(key: string) {
    this.key = key;
  }
}

export class RedisMessageBus implements MessageBus {
  readonly nodeId: string;
  readonly stats: MessageBusStats = {
    sentMessages: 0, sentEntries: 0, sentBatches: 0, droppedMessages: 0, receivedMessages: 0, malformedEntries: 0, gaps: 0, sentBytes: 0, failedBatches: 0, waitShort: 0,
    readPauses: 0, flowSignalsSent: 0, flowSignalsReceived: 0, directedSent: 0, directedReceived: 0,
  };
  /**
   * The route-log position this node has applied (RedisRouteTable.appliedPosition), written as
   * field `r` of each entry: an adopter compares it with a returned client's cut
   * (session-adoption.ts) to tell whether the entry's messages also reached that client's new
   * node. Read once per batch and destination, when its first frame is routed.
   */
  routePosition: (() => string) | null = null;
  /** Field `r` of the entry being delivered ('' when it has none): read by the message handler. */
  entryRoute = '';
  private directedHandler: DirectedHandler | null = null;
  private readonly keys: ClusterKeys;
  private readonly maxLen: number;
  private readonly maxEntryBytes: number;
  private readonly readCount: number;
  private readonly blockMs: number;
  private readonly connect: RedisFactory;
  private command: Redis | null = null;
  private blocking: Redis | null = null;
  private readonly outboxes = new Map<string, Outbox>();
  private readonly dirty: Outbox[] = [];
  private pendingMessages = 0;
  private batch = 1;
  private flushScheduled: NodeJS.Immediate | null = null;
  private batchHandler: BatchHandler | null = null;
  private onMessage: MessageHandler | null = null;
  private lastId = '0-0';
  private closed = false;
  private reading: Promise<void> | null = null;
  private readonly inboxKey: string;
  private readonly flushBound = (): void => this.flush();
  private readonly waitReplicas: number;
  private readonly waitTimeoutMs: number;
  /** Adoption (session-adoption.ts): delivery of the inbox waits for this promise. */
  private adoptionHold: Promise<void> | null = null;
  private releaseHold: (() => void) | null = null;
  /** Adoption: frames for this node are kept in `diverted` instead of being sent. */
  private divertNode: string | null = null;
  private diverted: Buffer[] = [];
  /** Highest batch number settled (answered or failed); `idle()` waiters by batch number. */
  private settledUpTo = 0;
  private idleWaiters: { batch: number; resolve: () => void }[] = [];
  /** The latest batch's settlement: a batch with nothing to write settles after it (in order). */
  private lastSettle: Promise<void> = Promise.resolve();
  /** Called after the entries of one read were delivered, with the last id (the node records it). */
  private readHandler: ((lastId: string) => void) | null = null;
  /** Delivers one frame; false once the delivery paused the reader (it stops after this frame). */
  private readonly deliverBound = (m: ClusterMessage): boolean => {
    this.stats.receivedMessages++;
    this.onMessage!(m);
    return !this.readPaused;
  };
  private flowHandler: FlowHandler | null = null;
  /** Paused by flow control: no frame is delivered, no XREAD sent, until resumeReading(). */
  private readPaused = false;
  /** stopReading(): no entry is delivered any more (a drain), whatever flow control says. */
  private readStopped = false;
  private wakeReader: (() => void) | null = null;
  /**
   * The XREAD reply being delivered: entries [heldIndex..) are left, and of entry heldIndex the
   * frames from byte heldAt of its body. Null when all of it was delivered.
   */
  private held: StreamEntry[] | null = null;
  private heldIndex = 0;
  private heldAt = 0;

  constructor(options: RedisMessageBusOptions) {
    this.nodeId = options.nodeId;
    this.connect = options.connect;
    this.keys = options.keys ?? new ClusterKeys();
    this.maxLen = options.maxLen ?? 10000;
    this.waitReplicas = options.waitReplicas ?? 0;
    this.waitTimeoutMs = options.waitTimeoutMs ?? 1000;
    this.maxEntryBytes = options.maxEntryBytes ?? 1 << 20;
    this.readCount = options.readCount ?? 128;
    this.blockMs = options.blockMs ?? 2000;
    this.inboxKey = this.keys.inbox(this.nodeId);
  }

  /** Set before start(): the inbox is read after this entry id instead of from its end. */
  startAfter: string | null = null;

  async start(onMessage: MessageHandler): Promise<void> {
    this.onMessage = onMessage;
    this.command = this.connect('command');
    this.blocking = this.connect('blocking');
    await Promise.all([whenReady(this.command), whenReady(this.blocking)]);
    // A restarted node with the same id reads from where its start took the earlier run's tail
    // up to (startAfter, ClusterNode.adoptEarlierRun); without one, from the stream's end.
    this.lastId = this.startAfter ?? (await this.lastGeneratedId());
    this.reading = this.readLoop();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.flushScheduled !== null) {
      clearImmediate(this.flushScheduled);
      this.flush();
    }
    this.closed = true;
    this.release();
    this.wakeReader?.();
    if (this.blocking !== null) closeConnection(this.blocking);
    await settleWithin(this.reading, CLOSE_WAIT_MS);
    if (this.command !== null) closeConnection(this.command);
  }

  onBatch(handler: BatchHandler | null): void {
    this.batchHandler = handler;
  }

  /** Registers the handler of flow signals from other nodes. */
  onFlow(handler: FlowHandler | null): void {
    this.flowHandler = handler;
  }

  /** Stops delivering after the current frame; the stream keeps what is not read. */
  pauseReading(): void {
    if (this.readPaused) return;
    this.readPaused = true;
    this.stats.readPauses++;
  }

  /**
   * A drain: no entry is delivered after the current one (never mid-entry), for good. What is not
   * read stays in the stream for the node's adopter; the position the node records is the last
   * entry delivered whole.
   */
  stopReading(): void {
    this.readStopped = true;
  }

  resumeReading(): void {
    if (!this.readPaused) return;
    this.readPaused = false;
    const wake = this.wakeReader;
    this.wakeReader = null;
    wake?.();
  }

  /**
   * Tells `node` to hold (busy) or go on (clear) with the messages it sends here: one entry in its
   * inbox, written at once. Not retried: a lost signal costs the sender at most its pause budget
   * (cluster-flow.ts treats a busy older than max-publisher-pause as cleared).
   */
  sendFlow(node: string, busy: boolean): void {
    const command = this.command;
    if (command === null || command.status !== 'ready' || this.closed) return;
    this.stats.flowSignalsSent++;
    command.xadd(this.keys.inbox(node), 'MAXLEN', '~', this.maxLen, '*', 'o', this.nodeId, 'f', busy ? '1' : '0').catch(() => undefined);
  }

  send(message: ClusterMessage, nodes: readonly string[], count: number): number {
    let frame: Buffer | null = null;
    for (let i = 0; i < count; i++) {
      const node = nodes[i];
      if (node === this.nodeId) continue;
      if (frame === null) frame = encodeFrame(message);
      if (node === this.divertNode) {
        this.diverted.push(frame);
        continue;
      }
      let outbox = this.outboxes.get(node);
      if (outbox === undefined) {
        outbox = new Outbox(this.keys.inbox(node));
        this.outboxes.set(node, outbox);
      }
      if (outbox.frames.length === 0) {
        this.dirty.push(outbox);
        // Before any frame of this batch: each of them was routed with at least this position.
        if (this.routePosition !== null) outbox.route = this.routePosition();
      }
      outbox.frames.push(frame);
      outbox.bytes += frame.length;
      this.pendingMessages++;
    }
    if (frame !== null && this.flushScheduled === null) this.flushScheduled = setImmediate(this.flushBound);
    return this.batch;
  }

  /** Sends the open batch: one pipeline, one XADD per destination (per maxEntryBytes). */
  private flush(): void {
    this.flushScheduled = null;
    const batch = this.batch++;
    const messages = this.pendingMessages;
    this.pendingMessages = 0;
    const command = this.command;
    if (command === null || command.status !== 'ready' || this.closed) {
      for (const outbox of this.dirty) this.reset(outbox);
      this.dirty.length = 0;
      this.stats.droppedMessages += messages;
      this.stats.failedBatches++;
      this.batchHandler?.(batch, false);
      this.settledBatch(batch);
      return;
    }
    if (this.dirty.length === 0) {
      // Every frame of the turn was diverted (adoption): nothing to write; settled after the
      // batches before it, so that no acknowledgement of theirs is released early.
      const settleEmpty = (): void => this.settle(batch, 0, 0, 0, true);
      this.lastSettle = this.lastSettle.then(settleEmpty, settleEmpty);
      return;
    }
    const pipeline = command.pipeline();
    let entries = 0;
    let total = 0;
    for (const outbox of this.dirty) {
      const frames = outbox.frames;
      let from = 0;
      let bytes = 0;
      for (let i = 0; i < frames.length; i++) {
        if (bytes > 0 && bytes + frames[i].length > this.maxEntryBytes) {
          this.xadd(pipeline, outbox, frames, from, i, bytes);
          entries++;
          from = i;
          bytes = 0;
        }
        bytes += frames[i].length;
        total += frames[i].length;
      }
      this.xadd(pipeline, outbox, frames, from, frames.length, bytes);
      entries++;
      this.reset(outbox);
    }
    this.dirty.length = 0;
    this.stats.sentBatches++;
    const wait = this.waitReplicas;
    if (wait > 0) pipeline.call('WAIT', wait, this.waitTimeoutMs);
    this.lastSettle = pipeline.exec().then(
      (results) => {
        let ok = results !== null;
        if (results !== null) for (const [err] of results) if (err !== null) ok = false;
        // WAIT answers how many replicas have the batch: fewer than asked fails it (no PUBACK).
        if (ok && wait > 0 && (results![results!.length - 1][1] as number) < wait) {
          ok = false;
          this.stats.waitShort++;
        }
        this.settle(batch, messages, entries, total, ok);
      },
      () => this.settle(batch, messages, entries, total, false),
    );
  }

  private settle(batch: number, messages: number, entries: number, bytes: number, ok: boolean): void {
    if (ok) {
      this.stats.sentMessages += messages;
      this.stats.sentEntries += entries;
      this.stats.sentBytes += bytes;
    } else {
      this.stats.droppedMessages += messages;
      this.stats.failedBatches++;
    }
    this.batchHandler?.(batch, ok);
    this.settledBatch(batch);
  }

  private settledBatch(batch: number): void {
    if (batch > this.settledUpTo) this.settledUpTo = batch;
    const waiters = this.idleWaiters;
    for (let i = 0; i < waiters.length; ) {
      if (waiters[i].batch <= this.settledUpTo) {
        waiters[i].resolve();
        waiters.splice(i, 1);
      } else i++;
    }
  }

  // ---- adoption of a dead node's sessions (session-adoption.ts) ---------------------------

  /** Resolves once every batch sent so far (this turn's included) is answered or failed. */
  idle(): Promise<void> {
    if (this.flushScheduled !== null) {
      clearImmediate(this.flushScheduled);
      this.flush();
    }
    const batch = this.batch - 1;
    if (batch <= this.settledUpTo) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push({ batch, resolve }));
  }

  /** Stops delivering this node's inbox (entries read meanwhile wait in memory) until release(). */
  hold(): void {
    if (this.adoptionHold !== null) return;
    this.adoptionHold = new Promise((resolve) => (this.releaseHold = resolve));
  }

  release(): void {
    const release = this.releaseHold;
    this.adoptionHold = null;
    this.releaseHold = null;
    release?.();
  }

  /** From now on frames for `node` are kept here instead of sent (until undivert()). */
  divert(node: string): void {
    this.divertNode = node;
    this.diverted = [];
  }

  /** Ends the diversion; returns the frames kept, in send order. */
  undivert(): Buffer[] {
    const frames = this.diverted;
    this.divertNode = null;
    this.diverted = [];
    return frames;
  }

  /** Registers the handler told the last id of each delivered read (null: none). */
  onRead(handler: ((lastId: string) => void) | null): void {
    this.readHandler = handler;
  }

  private xadd(pipeline: ReturnType<Redis['pipeline']>, outbox: Outbox, frames: Buffer[], from: number, to: number, bytes: number): void {
    const body = to - from === 1 ? frames[from] : Buffer.concat(frames.slice(from, to), bytes);
    if (outbox.route === '') pipeline.xadd(outbox.key, 'MAXLEN', '~', this.maxLen, '*', 'o', this.nodeId, 'm', body);
    else pipeline.xadd(outbox.key, 'MAXLEN', '~', this.maxLen, '*', 'o', this.nodeId, 'r', outbox.route, 'm', body);
  }

  /** Registers the handler of directed entries (null: none; they are then counted as malformed). */
  onDirected(handler: DirectedHandler | null): void {
    this.directedHandler = handler;
  }

  /**
   * Writes one directed entry to `node`'s inbox: `body` (frames) for the session of `clientId`
   * holding lease `token` there only. Resolves once Redis has it.
   */
  async sendDirected(node: string, clientId: string, token: string, body: Buffer): Promise<void> {
    const command = this.command;
    if (command === null || this.closed) throw new Error('message bus closed');
    await command.xadd(this.keys.inbox(node), 'MAXLEN', '~', this.maxLen, '*', 'o', this.nodeId, 'd', clientId, 't', token, 'm', body);
    this.stats.directedSent++;
  }

  private reset(outbox: Outbox): void {
    outbox.frames.length = 0;
    outbox.bytes = 0;
  }

  private async lastGeneratedId(): Promise<string> {
    const info = await this.command!.call('XINFO', 'STREAM', this.inboxKey).catch(() => null);
    return streamInfoField(info, 'last-generated-id') ?? '0-0';
  }

  /**
   * After a reconnect: resume from the last processed id, unless the stream was recreated (Redis
   * restarted empty: its ids start over from the clock and may be lower) or trimmed past us.
   */
  private async resyncPosition(): Promise<void> {
    const info = await this.blocking!.call('XINFO', 'STREAM', this.inboxKey).catch(() => null);
    const last = streamInfoField(info, 'last-generated-id');
    if (last === null || compareIds(last, this.lastId) < 0) {
      this.lastId = '0-0';
      return;
    }
    const deleted = streamInfoField(info, 'max-deleted-entry-id');
    if (deleted !== null && compareIds(deleted, this.lastId) > 0) this.stats.gaps++;
  }

  private async readLoop(): Promise<void> {
    const blocking = this.blocking!;
    let resync = false;
    while (!this.closed) {
      try {
        if (this.readPaused || this.readStopped) {
          await new Promise<void>((resolve) => (this.wakeReader = resolve));
          continue;
        }
        if (this.held !== null) {
          // The rest of a reply after a turn's share (TURN_BYTES): the sockets written in that
          // turn flush first.
          await yieldTurn();
          if (this.closed) break;
          if (this.adoptionHold !== null) await this.adoptionHold;
          this.deliverHeld();
          continue;
        }
        if (resync) {
          await whenReady(blocking);
          await this.resyncPosition();
          resync = false;
        }
        const reply = (await blocking.xreadBuffer('COUNT', this.readCount, 'BLOCK', this.blockMs, 'STREAMS', this.inboxKey, this.lastId)) as
          | [Buffer, [Buffer, Buffer[]][]][]
          | null;
        if (reply === null) continue;
        if (this.adoptionHold !== null) await this.adoptionHold; // adoption: this node's inbox waits for the dead one's tail
        const entries = reply[0][1];
        this.held = entries;
        this.heldIndex = 0;
        this.heldAt = 0;
        this.deliverHeld();
        if (entries.length === this.readCount) await this.resyncPosition(); // behind: was anything trimmed?
      } catch {
        if (this.closed) break;
        this.held = null; // the rest of the reply is read again from lastId (after the failed entry)
        resync = true;
        try {
          if (blocking.status === 'ready') await delay(50); // a command error, not a disconnect
          else await whenReady(blocking);
        } catch {
          break; // the connection ended for good
        }
      }
    }
  }

  /** Delivers the held reply until it is done or the reader is paused (then it resumes there). */
  private deliverHeld(): void {
    const entries = this.held!;
    const from = this.heldIndex;
    let bytes = 0;
    while (this.heldIndex < entries.length && !this.readStopped) {
      const [id, fields] = entries[this.heldIndex];
      this.lastId = id.toString();
      if (!this.deliverEntry(fields)) break;
      this.heldIndex++;
      this.heldAt = 0;
      if (this.readPaused) break;
      // One turn delivers about TURN_BYTES of entries: a reply of 128 full entries (megabytes)
      // delivered in one synchronous loop would pile all of it into the subscribers' write
      // buffers before any of it leaves (QoS 0 past max-write-buffer is then dropped), and hold
      // every other connection of this node for as long.
      for (let i = 1; i < fields.length; i += 2) bytes += fields[i].length;
      if (bytes >= TURN_BYTES) break;
    }
    // The read position a node records for an adopter: the last entry delivered whole (a paused
    // entry's rest is not delivered yet, so it is not past the position).
    if (this.heldIndex > from) this.readHandler?.(entries[this.heldIndex - 1][0].toString());
    if (this.heldIndex >= entries.length) this.held = null;
  }

  /** Delivers the entry's frames from heldAt; false when the reader paused before its end. */
  private deliverEntry(fields: Buffer[]): boolean {
    const { origin, body, flow, directed, token, route } = inboxEntry(fields);
    if (directed !== null && body !== null) {
      // For one session, delivered whole (bounded by the dead inbox's MAXLEN); never paused.
      this.stats.directedReceived++;
      if (this.directedHandler !== null) this.directedHandler(origin, directed, token, body);
      else this.stats.malformedEntries++;
      return true;
    }
    if (body !== null) this.entryRoute = route;
    if (body === null) {
      if (flow !== null) {
        this.stats.flowSignalsReceived++;
        this.flowHandler?.(origin, flow === '1');
      } else this.stats.malformedEntries++;
      return true;
    }
    try {
      const at = decodeFrames(body, origin, this.heldAt, this.deliverBound);
      if (at < body.length) {
        this.heldAt = at;
        return false;
      }
    } catch (err) {
      if (!(err instanceof ClusterCodecError)) throw err;
      this.stats.malformedEntries++; // frames before the bad one were delivered; the rest skipped
    }
    return true;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The fields of one inbox entry (the header of this file; `r`, `d`, `t`: session-adoption.ts). */
export interface InboxEntry {
  /** `o`: the node that wrote it. */
  origin: string;
  /** `m`: frames; null for a flow signal. */
  body: Buffer | null;
  /** `f`: a flow signal ('1' busy, '0' clear). */
  flow: string | null;
  /** `d`: a directed entry's client id (frames for that one session), with `t` its lease token. */
  directed: string | null;
  token: string;
  /** `r`: the route-log position its messages were routed with; '' when absent. */
  route: string;
}

/** Reads an entry's flat field list (unknown fields are skipped). */
export function inboxEntry(fields: Buffer[]): InboxEntry {
  const e: InboxEntry = { origin: '', body: null, flow: null, directed: null, token: '', route: '' };
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i].toString();
    if (name === 'o') e.origin = fields[i + 1].toString();
    else if (name === 'm') e.body = fields[i + 1];
    else if (name === 'f') e.flow = fields[i + 1].toString();
    else if (name === 'd') e.directed = fields[i + 1].toString();
    else if (name === 't') e.token = fields[i + 1].toString();
    else if (name === 'r') e.route = fields[i + 1].toString();
  }
  return e;
}

/** Resolves in the check phase of this turn: after the I/O callbacks, with this turn's output flushed. */
function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A field of an XINFO STREAM reply (flat [name, value, ...]); null when absent. */
export function streamInfoField(info: unknown, name: string): string | null {
  if (!Array.isArray(info)) return null;
  for (let i = 0; i + 1 < info.length; i += 2) if (String(info[i]) === name) return String(info[i + 1]);
  return null;
}

/** Orders two stream ids 'ms-seq'. */
export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-');
  const [bm, bs] = b.split('-');
  const dm = BigInt(am) - BigInt(bm);
  if (dm !== 0n) return dm < 0n ? -1 : 1;
  const ds = BigInt(as ?? '0') - BigInt(bs ?? '0');
  return ds === 0n ? 0 : ds < 0n ? -1 : 1;
}
