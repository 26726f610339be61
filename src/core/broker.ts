import { EventEmitter } from 'node:events';
import type { BrokerConfig, BrokerConfigInput } from './config/types';
import { validateConfig } from './config/validate';
import type { Connection } from './connection/connection';
import { Engine, type BrokerStats } from './engine';
import type { BrokerEvents } from './hooks/events';
import type { BrokerPlugin } from './hooks/plugin';
import { HookRegistry } from './hooks/registry';
import { Listener } from './listeners/listener';
import { createStores } from './stores/memory';
import type { Stores } from './stores/store';

export type BrokerState = 'new' | 'starting' | 'started' | 'stopping' | 'stopped';

export interface BrokerOptions {
  /** Plugin instances (authentication, authorization), consulted in order. */
  plugins?: BrokerPlugin[];
  /** State backends; in memory when omitted. */
  stores?: Stores;
}

/** A snapshot of one connected client, for listings (never the live object). */
export interface ClientSnapshot {
  clientId: string;
  username: string | null;
  remoteAddress: string;
  listener: string;
  protocolLevel: number;
  connectedAt: number;
  keepalive: number;
  cleanSession: boolean;
  subscriptions: number;
  inflight: number;
  queued: number;
}

/**
 * The embeddable MQTT broker:
 *
 *   const broker = new Broker({ listeners: { default: { type: 'tcp', bind: '127.0.0.1:1883' } } });
 *   await broker.start();    // resolves once every listener is bound
 *   await broker.shutdown(); // closes sessions and listeners, frees everything
 *
 * States: new -> starting -> started -> stopping -> stopped. No Nest anywhere below this class.
 */
export class Broker extends EventEmitter<BrokerEvents> {
  readonly config: BrokerConfig;
  private readonly engine: Engine;
  private readonly stores: Stores;
  private mqttListeners: Listener[] = [];
  private _state: BrokerState = 'new';
  private startedAt = 0;
  private stopping: Promise<void> | null = null;
  private expiryTimer: NodeJS.Timeout | null = null;

  constructor(config?: BrokerConfigInput | BrokerConfig, options: BrokerOptions = {}) {
    super();
    this.config = validateConfig(config);
    this.stores = options.stores ?? createStores(this.config.persistence);
    const hooks = new HookRegistry(options.plugins ?? [], this.config.auth, (plugin, hook, err) => {
      const e = new Error(`plugin ${plugin.name ?? 'anonymous'} failed in ${hook}: ${(err as Error)?.message ?? String(err)}`);
      this.emit('warning', e);
    });
    this.engine = new Engine(this.config, this.stores.sessions, this.stores.retained, hooks, this);
    // A warning with no listener must not throw (EventEmitter treats only 'error' that way).
  }

  get state(): BrokerState {
    return this._state;
  }

  get stats(): Readonly<BrokerStats> {
    return this.engine.stats;
  }

  get uptimeSeconds(): number {
    return this.startedAt === 0 ? 0 : (Date.now() - this.startedAt) / 1000;
  }

  /** Bound addresses by listener name (useful with port 0). */
  get addresses(): Record<string, { host: string; port: number }> {
    const out: Record<string, { host: string; port: number }> = {};
    for (const l of this.mqttListeners) if (l.address) out[l.config.name] = l.address;
    return out;
  }

  /** Port of the first listener (or of the named one), once started. */
  port(name?: string): number {
    const l = name === undefined ? this.mqttListeners[0] : this.mqttListeners.find((x) => x.config.name === name);
    if (!l?.address) throw new Error(name ? `no bound listener named ${name}` : 'broker has no bound listener');
    return l.address.port;
  }

  async start(): Promise<void> {
    if (this._state !== 'new') throw new Error(`cannot start a broker in state ${this._state}`);
    this._state = 'starting';
    this.emit('starting');
    for (const w of this.config.warnings) this.emit('warning', new Error(`config: ${w}`));
    try {
      await this.stores.sessions.open();
      await this.stores.retained.open();
      this.engine.restore();
      this.engine.expireSessions();
      this.mqttListeners = this.config.listeners.map((l) => new Listener(l, this.engine));
      await Promise.all(this.mqttListeners.map((l) => l.listen()));
    } catch (err) {
      await Promise.all(this.mqttListeners.map((l) => l.stopAccepting().catch(() => undefined)));
      this._state = 'stopped';
      throw err;
    }
    this.startedAt = Date.now();
    const expiry = this.config.limits.sessionExpiry;
    if (expiry > 0) {
      this.expiryTimer = setInterval(() => this.engine.expireSessions(), Math.min(expiry, 60) * 1000);
      this.expiryTimer.unref();
    }
    this._state = 'started';
    this.emit('started');
  }

  /** Stop accepting, close every client (their Wills fire as for any unclean close), free all. */
  shutdown(): Promise<void> {
    if (this.stopping !== null) return this.stopping;
    this.stopping = this.doShutdown();
    return this.stopping;
  }

  private async doShutdown(): Promise<void> {
    if (this._state === 'new') {
      this._state = 'stopped';
      return;
    }
    this._state = 'stopping';
    this.emit('stopping');
    if (this.expiryTimer !== null) clearInterval(this.expiryTimer);
    this.expiryTimer = null;
    const accepting = Promise.all(this.mqttListeners.map((l) => l.stopAccepting()));
    for (const conn of [...this.engine.connections]) conn.close('shutdown');
    for (const l of this.mqttListeners) l.destroyAll();
    await accepting;
    await this.stores.sessions.flush();
    await this.stores.retained.flush();
    await this.stores.sessions.close();
    await this.stores.retained.close();
    this._state = 'stopped';
    this.emit('stopped');
  }

  /** Connected clients, as snapshots. */
  clients(): ClientSnapshot[] {
    const out: ClientSnapshot[] = [];
    for (const conn of this.engine.clients.values()) out.push(snapshot(conn));
    return out;
  }

  client(clientId: string): (ClientSnapshot & { subscriptionList: { filter: string; qos: number }[] }) | undefined {
    const conn = this.engine.clients.get(clientId);
    if (conn === undefined) return undefined;
    const subs = conn.session?.subscriptions;
    return {
      ...snapshot(conn),
      subscriptionList: subs ? [...subs].map(([filter, qos]) => ({ filter, qos })) : [],
    };
  }

  /** Disconnect a client as an administrator would (its Will fires); optionally drop its session. */
  disconnectClient(clientId: string, discardSession = false): boolean {
    const conn = this.engine.clients.get(clientId);
    const session = this.stores.sessions.get(clientId);
    if (conn === undefined && (!discardSession || session === undefined)) return false;
    conn?.close('admin');
    if (discardSession && session !== undefined) this.engine.discardSession(session);
    return true;
  }

  get connectionCount(): number {
    return this.engine.connections.size;
  }

  get clientCount(): number {
    return this.engine.clients.size;
  }

  get subscriptionCount(): number {
    return this.engine.subscriptions.size;
  }

  get retainedCount(): number {
    return this.stores.retained.size;
  }

  get sessionCount(): number {
    return this.stores.sessions.size;
  }
}

function snapshot(conn: Connection): ClientSnapshot {
  const s = conn.session;
  return {
    clientId: conn.clientId,
    username: conn.username,
    remoteAddress: conn.remoteAddress,
    listener: conn.listener,
    protocolLevel: conn.protocolLevel,
    connectedAt: conn.connectedAt,
    keepalive: conn.keepalive,
    cleanSession: conn.cleanSession,
    subscriptions: s?.subscriptionCount ?? 0,
    inflight: s?.inflightCount ?? 0,
    queued: s?.queuedCount ?? 0,
  };
}
