/**
 * Injection tokens for the core parts the Nest modules assemble. Parts that are classes
 * (Broker, ConfiguredPlugins, SubscriptionTrie, ListenerFactory) are their own tokens.
 */
export const BROKER_CONFIG = Symbol('BROKER_CONFIG');
export const STORES = Symbol('STORES');
export const SESSION_STORE = Symbol('SESSION_STORE');
export const RETAINED_STORE = Symbol('RETAINED_STORE');
