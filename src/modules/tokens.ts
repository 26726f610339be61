/** Injection tokens for the core parts the Nest modules assemble. */
export const BROKER_CONFIG = Symbol('BROKER_CONFIG');
export const STORES = Symbol('STORES');
export const SESSION_STORE = Symbol('SESSION_STORE');
export const RETAINED_STORE = Symbol('RETAINED_STORE');
export const BROKER_PLUGINS = Symbol('BROKER_PLUGINS');
