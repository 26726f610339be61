import type { BrokerStats } from '../engine';

/**
 * The `$SYS/broker/...` tree: hbmqtt's topics, and Mosquitto's names for the same figures where
 * they differ, so that hbmqtt clients and Mosquitto dashboards/exporters both find what they
 * read. Published by the broker itself every `sys_interval` seconds, retained, QoS 0; a topic is
 * re-published only when its value changed (as Mosquitto does), so an idle broker sends little.
 *
 * Nothing here runs on the packet path: every figure is read from the engine's plain counters
 * (or computed by walking the sessions) once per interval.
 *
 * Wildcards never match these topics: a filter whose first level is `+` or `#` skips topics
 * starting with `$` [MQTT-4.7.2-1]; subscribe to `$SYS/#` to get them.
 */

/** What the publisher reads from the broker, and how it publishes. */
export interface SysSource {
  readonly stats: Readonly<BrokerStats>;
  readonly uptimeSeconds: number;
  /** Connected clients (CONNECT accepted). */
  readonly clientCount: number;
  /** Sessions, connected or not. */
  readonly sessionCount: number;
  readonly subscriptionCount: number;
  readonly retainedCount: number;
  /** Walks the sessions: outbound QoS 1/2 in flight, inbound QoS 2 awaiting PUBREL, queued. */
  sessionTotals(): { inflightOut: number; inflightIn: number; queued: number };
  /** Publish as the broker itself (retained), not counted as a received message. */
  publishInternal(topic: string, payload: string, retain: boolean): void;
  /** Subscribe to CONNECT acceptances (for `load/connections`); returns the unsubscribe. */
  onClientConnected(fn: () => void): () => void;
}

export const SYS_ROOT = '$SYS/broker/';

/** Averaging windows of the load figures, seconds (Mosquitto's 1, 5 and 15 minutes). */
const WINDOWS: readonly [string, number][] = [
  ['1min', 60],
  ['5min', 300],
  ['15min', 900],
];

/**
 * One `load/...` figure: an exponentially-weighted moving average of a counter's rate in units
 * per minute, over 1, 5 and 15 minutes. Same formula as Mosquitto's sys_tree.c, like the Unix
 * load average: at each update, rate = delta * 60 / dt, value = rate + e^(-dt/window) * (value - rate).
 */
class LoadAverage {
  readonly values = [0, 0, 0];
  private last: number;

  constructor(
    readonly name: string,
    private readonly read: () => number,
  ) {
    this.last = read();
  }

  update(dtSeconds: number): void {
    const now = this.read();
    const rate = ((now - this.last) * 60) / dtSeconds;
    this.last = now;
    for (let i = 0; i < WINDOWS.length; i++) {
      const exponent = Math.exp(-dtSeconds / WINDOWS[i][1]);
      this.values[i] = rate + exponent * (this.values[i] - rate);
    }
  }
}

export class SysTopicsPublisher {
  private timer: NodeJS.Timeout | null = null;
  /** Last payload published per topic: only changes are sent again. */
  private readonly published = new Map<string, string>();
  private readonly loads: LoadAverage[];
  private lastUpdate = 0;
  private heapMaximum = 0;
  private connects = 0;
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly source: SysSource,
    /** Seconds between updates (> 0). */
    private readonly intervalSeconds: number,
    private readonly version: string,
    private readonly now: () => number = Date.now,
    /** Topic root ending in '/': SYS_ROOT, or `$SYS/brokers/<node-id>/` for a cluster node. */
    private readonly root: string = SYS_ROOT,
  ) {
    const s = source.stats;
    this.loads = [
      new LoadAverage('messages/received', () => s.messagesReceived),
      new LoadAverage('messages/sent', () => s.messagesSent),
      new LoadAverage('publish/received', () => s.publishReceived),
      new LoadAverage('publish/sent', () => s.publishSent),
      new LoadAverage('publish/dropped', () => dropped(s)),
      new LoadAverage('bytes/received', () => s.bytesReceived),
      new LoadAverage('bytes/sent', () => s.bytesSent),
      new LoadAverage('sockets', () => s.connectionsTotal),
      new LoadAverage('connections', () => this.connects),
    ];
  }

  get running(): boolean {
    return this.timer !== null;
  }

  /** Publishes the static topics and a first update at once, then one update per interval. */
  start(): void {
    if (this.timer !== null) return;
    this.unsubscribe = this.source.onClientConnected(() => void this.connects++);
    this.lastUpdate = this.now();
    this.publish('version', `nestmq version ${this.version}`);
    this.update();
    this.timer = setInterval(() => this.update(), this.intervalSeconds * 1000);
    // The broker's listeners keep the process alive; this timer alone must not.
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  /** Computes every figure and publishes those that changed. Public for tests. */
  update(): void {
    const src = this.source;
    const s = src.stats;
    const now = this.now();
    const dt = (now - this.lastUpdate) / 1000;
    if (dt > 0) {
      for (const l of this.loads) l.update(dt);
      this.lastUpdate = now;
    }
    const uptime = Math.floor(src.uptimeSeconds);
    const connected = src.clientCount;
    const total = src.sessionCount;
    const disconnected = Math.max(0, total - connected);
    const { inflightOut, inflightIn, queued } = src.sessionTotals();
    const retained = src.retainedCount;
    const subscriptions = src.subscriptionCount;
    const heap = process.memoryUsage().heapUsed;
    if (heap > this.heapMaximum) this.heapMaximum = heap;

    // hbmqtt's set (`$SYS/broker/` + name); Mosquitto's names follow where they differ.
    this.publish('uptime', String(uptime)); // Mosquitto sends "N seconds"; a bare number parses for both
    this.publish('uptime/formated', formatUptime(uptime)); // sic: hbmqtt's spelling
    this.publish('time', new Date(now).toISOString());
    this.publish('clients/connected', String(connected));
    this.publish('clients/disconnected', String(disconnected));
    this.publish('clients/maximum', String(s.clientsMaximum));
    // Connected clients per protocol level: clients/protocol/3 (MQTT 3.1), /4 (3.1.1), /5 (5.0).
    for (let level = 3; level <= 5; level++) this.publish(`clients/protocol/${level}`, String(s.clientsByProtocolLevel[level]));
    this.publish('clients/total', String(total));
    this.publish('messages/received', String(s.messagesReceived));
    this.publish('messages/sent', String(s.messagesSent));
    this.publish('messages/publish/received', String(s.publishReceived));
    this.publish('messages/publish/sent', String(s.publishSent));
    this.publish('messages/inflight', String(inflightIn + inflightOut));
    this.publish('messages/inflight/in', String(inflightIn));
    this.publish('messages/inflight/out', String(inflightOut));
    this.publish('messages/inflight/stored', String(queued + retained));
    this.publish('messages/retained/count', String(retained));
    this.publish('messages/subscriptions/count', String(subscriptions));
    // hbmqtt calls its byte totals `load/bytes/...`.
    this.publish('load/bytes/received', String(s.bytesReceived));
    this.publish('load/bytes/sent', String(s.bytesSent));

    // Mosquitto's names.
    this.publish('clients/active', String(connected));
    this.publish('clients/inactive', String(disconnected));
    this.publish('clients/expired', String(s.sessionsExpired));
    this.publish('bytes/received', String(s.bytesReceived));
    this.publish('bytes/sent', String(s.bytesSent));
    this.publish('publish/messages/received', String(s.publishReceived));
    this.publish('publish/messages/sent', String(s.publishSent));
    this.publish('publish/messages/dropped', String(dropped(s)));
    this.publish('messages/stored', String(inflightOut + queued + retained));
    this.publish('store/messages/count', String(inflightOut + queued + retained));
    this.publish('retained messages/count', String(retained));
    this.publish('subscriptions/count', String(subscriptions));
    this.publish('heap/current', String(heap));
    this.publish('heap/maximum', String(this.heapMaximum));
    for (const l of this.loads) {
      for (let i = 0; i < WINDOWS.length; i++) this.publish(`load/${l.name}/${WINDOWS[i][0]}`, l.values[i].toFixed(2));
    }
  }

  private publish(name: string, payload: string): void {
    if (this.published.get(name) === payload) return;
    this.published.set(name, payload);
    this.source.publishInternal(this.root + name, payload, true);
  }
}

/** Messages the broker did not deliver because of its limits (Mosquitto's publish/messages/dropped). */
function dropped(s: Readonly<BrokerStats>): number {
  return s.droppedQueueFull + s.droppedSlowConsumer + s.droppedPacketTooLarge;
}

/** Python's str(timedelta) for whole seconds, as hbmqtt prints `uptime/formated`: "1 day, 2:03:04". */
export function formatUptime(seconds: number): string {
  const days = Math.floor(seconds / 86400);
  const rest = seconds % 86400;
  const h = Math.floor(rest / 3600);
  const m = Math.floor((rest % 3600) / 60);
  const sec = rest % 60;
  const hms = `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
  return days === 0 ? hms : `${days} day${days === 1 ? '' : 's'}, ${hms}`;
}
