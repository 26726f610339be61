export { Engine, type EngineOptions } from './engine';
export { BrokerStats } from './stats';
export type { BrokerEmitter, RemoteRoute } from './ports';
export { type ClientRegistry, LocalClientRegistry } from './client-registry';
