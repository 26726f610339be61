export { Broker, type BrokerOptions, type BrokerState, type ClientSnapshot } from './broker';
export type { BrokerStats } from './engine';
export * from './config/types';
export { validateConfig, isValidatedConfig, ConfigError, DEFAULT_LIMITS, parseBind, parseFlag } from './config/validate';
export { loadConfigFile } from './config/loader';
export type * from './hooks/events';
export type * from './hooks/plugin';
export type { Stores, SessionStore, RetainedStore, SessionJournal } from './stores/store';
export { createMemoryStores, MemoryRetainedStore, MemorySessionStore } from './stores/memory';
