/**
 * An Engine with in-memory stores and transports, assembled the way `Broker` and `Listener` do
 * it, minus sockets. Everything that knows how the engine is put together is in
 * createMemoryEngine(): when the engine is restructured, this one function changes and the
 * behaviour tests over it stay as they are.
 */
import { EventEmitter } from 'node:events';
import { createConfiguredPlugins } from '../../src/core/auth';
import type { BrokerConfigInput } from '../../src/core/config/types';
import { validateConfig } from '../../src/core/config/validate';
import { Connection } from '../../src/core/connection/connection';
import { Engine, type BrokerEmitter, type BrokerStats } from '../../src/core/engine';
import type { BrokerEvents } from '../../src/core/hooks/events';
import type { BrokerPlugin } from '../../src/core/hooks/plugin';
import { createDispatcher } from '../../src/core/handlers';
import { HookRegistry } from '../../src/core/hooks/registry';
import { CloseReason } from '../../src/core/protocol/reason-codes';
import { createStores } from '../../src/core/stores';
import { MemoryClient, MemoryTransport } from './memory-transport';

export interface MemoryEngine {
  /** Broker events (clientConnected, clientDisconnected, warning, ...), as Broker emits them. */
  readonly events: EventEmitter<BrokerEvents>;
  readonly stats: Readonly<BrokerStats>;
  /** Warnings emitted so far (a test can assert there were none). */
  readonly warnings: Error[];
  /** A new client connection, as a listener accepts a socket; returns the client's end. */
  accept(options?: { highWaterMark?: number }): MemoryClient;
  /** Live connections (accepted and not closed). */
  readonly connectionCount: number;
  /** Connected clients (CONNACK sent, not closed). */
  readonly clientCount: number;
  /** Sessions held (connected or not). */
  readonly sessionCount: number;
  /** Close every connection as Broker.shutdown() does and free the stores. */
  shutdown(): Promise<void>;
}

export interface MemoryEngineOptions {
  plugins?: BrokerPlugin[];
  /** Listener name each connection reports. */
  listener?: string;
}

export function createMemoryEngine(config: BrokerConfigInput = {}, options: MemoryEngineOptions = {}): MemoryEngine {
  // As Broker's constructor: validated config, stores, configured plugins then the embedder's,
  // hooks compiled once, the engine.
  const validated = validateConfig({ listeners: {}, ...config, persistence: { backend: 'memory' } });
  const stores = createStores(validated.persistence);
  const events = new EventEmitter<BrokerEvents>();
  const warnings: Error[] = [];
  events.on('warning', (err) => void warnings.push(err));
  const extra = options.plugins ?? [];
  const plugins = [...createConfiguredPlugins(validated, { extraPlugins: extra }), ...extra];
  const hooks = new HookRegistry(plugins, validated.auth, (plugin, hook, err) => {
    events.emit('warning', new Error(`plugin ${plugin.name ?? 'anonymous'} failed in ${hook}: ${String(err)}`));
  });
  const engine = new Engine(validated, stores.sessions, stores.retained, hooks, events as BrokerEmitter, { dispatcher: createDispatcher });
  // As Broker.start(): memory stores open at once (synchronously resolved), then restore.
  void stores.sessions.open();
  void stores.retained.open();
  engine.restore();

  // As Listener.accept(): the listener is the connection's owner and counts it.
  const listenerName = options.listener ?? 'memory';
  let live = 0;
  const owner = {
    release(): void {
      live--;
    },
  };

  return {
    events,
    stats: engine.stats,
    warnings,
    accept(o = {}): MemoryClient {
      const transport = new MemoryTransport(o.highWaterMark);
      const conn = new Connection(engine, transport, listenerName, owner);
      live++;
      engine.addConnection(conn);
      return transport.client;
    },
    get connectionCount() {
      return live;
    },
    get clientCount() {
      return engine.clients.size;
    },
    get sessionCount() {
      return stores.sessions.size;
    },
    async shutdown(): Promise<void> {
      for (const conn of [...engine.connections]) conn.close(CloseReason.Shutdown);
      engine.stop();
      await stores.sessions.close();
      await stores.retained.close();
    },
  };
}
