import type {
  AuthConfig,
  BrokerConfig,
  BrokerConfigInput,
  LimitsConfig,
  ListenerConfig,
  ListenerConfigInput,
} from './types';

/** Thrown by validateConfig with every problem found, each naming its key path. */
export class ConfigError extends Error {
  constructor(
    readonly problems: string[],
    readonly source?: string,
  ) {
    super(`${source ? `invalid configuration in ${source}` : 'invalid configuration'}:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export const DEFAULT_LIMITS: LimitsConfig = Object.freeze({
  maxPacketSize: 1024 * 1024,
  connectTimeout: 10,
  maxInflightMessages: 100,
  maxQueuedMessages: 1000,
  queueQos0Messages: false,
  maxSubscriptions: 1000,
  maxTopicLength: 65535,
  maxTopicLevels: 128,
  maxClientIdLength: 256,
  maxWriteBuffer: 4 * 1024 * 1024,
});

const DEFAULT_BIND = '0.0.0.0:1883';

const TOP_KEYS = new Set(['listeners', 'timeout-disconnect-delay', 'auth', 'topic-check', 'sys_interval', 'sys-interval', 'limits']);
const LISTENER_KEYS = new Set([
  'bind', 'type', 'max-connections', 'max_connections', 'ssl', 'cafile', 'capath', 'cadata', 'certfile', 'keyfile',
]);
const AUTH_KEYS = new Set(['plugins', 'allow-anonymous', 'allow_anonymous', 'password-file', 'password_file']);
const LIMIT_KEYS: Record<string, keyof LimitsConfig> = {
  'max-packet-size': 'maxPacketSize',
  'connect-timeout': 'connectTimeout',
  'max-inflight-messages': 'maxInflightMessages',
  'max-queued-messages': 'maxQueuedMessages',
  'queue-qos0-messages': 'queueQos0Messages',
  'max-subscriptions': 'maxSubscriptions',
  'max-topic-length': 'maxTopicLength',
  'max-topic-levels': 'maxTopicLevels',
  'max-client-id-length': 'maxClientIdLength',
  'max-write-buffer': 'maxWriteBuffer',
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** YAML 1.1 reads `on`/`yes` as booleans, YAML 1.2 as strings: accept both. */
export function parseFlag(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (s === 'on' || s === 'yes' || s === 'true') return true;
    if (s === 'off' || s === 'no' || s === 'false') return false;
  }
  return undefined;
}

/** `host:port`, `:port`, `port`, `[::1]:port`. */
export function parseBind(bind: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]*))?:?(\d{1,5})$/.exec(bind.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  const host = m[1] ?? (m[2] || '0.0.0.0');
  return { host, port };
}

const validated = new WeakSet<object>();

/** True for an object returned by validateConfig (so it is not validated twice). */
export function isValidatedConfig(c: unknown): c is BrokerConfig {
  return typeof c === 'object' && c !== null && validated.has(c);
}

/**
 * One validator for every entry point (embedding object, YAML file, Nest ConfigModule): reports
 * every problem at once by key path, and returns a frozen, complete config.
 */
export function validateConfig(raw: unknown, source?: string): BrokerConfig {
  if (isValidatedConfig(raw)) return raw;
  const problems: string[] = [];
  const input: BrokerConfigInput = raw === undefined || raw === null ? {} : (raw as BrokerConfigInput);
  if (!isObject(input)) throw new ConfigError(['(root): expected a mapping of configuration keys'], source);

  for (const key of Object.keys(input)) {
    if (!TOP_KEYS.has(key)) problems.push(`${key}: unknown key`);
  }

  const num = (path: string, v: unknown, min: number, fallback: number): number => {
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
      problems.push(`${path}: expected a number >= ${min}, got ${JSON.stringify(v)}`);
      return fallback;
    }
    return v;
  };

  const str = (path: string, v: unknown): string | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') {
      problems.push(`${path}: expected a string, got ${JSON.stringify(v)}`);
      return undefined;
    }
    return v;
  };

  // listeners: `default` is merged into each named listener (hbmqtt); the default listener itself
  // is started when it has a `bind` and nothing else is named, as hbmqtt does.
  const listeners: ListenerConfig[] = [];
  const rawListeners = input.listeners ?? { default: { type: 'tcp', bind: DEFAULT_BIND } };
  if (!isObject(rawListeners)) {
    problems.push('listeners: expected a mapping of listener names to listener settings');
  } else {
    const defaults = (rawListeners.default ?? {}) as ListenerConfigInput;
    if (!isObject(defaults)) problems.push('listeners.default: expected a mapping');
    const names = Object.keys(rawListeners).filter((n) => n !== 'default');
    const entries: [string, ListenerConfigInput][] =
      names.length > 0
        ? names.map((n) => [n, { ...(isObject(defaults) ? defaults : {}), ...((rawListeners[n] ?? {}) as object) }])
        : isObject(defaults) && defaults.bind !== undefined
          ? [['default', defaults]]
          : [];
    for (const [name, l] of entries) {
      const path = `listeners.${name}`;
      if (!isObject(l)) {
        problems.push(`${path}: expected a mapping`);
        continue;
      }
      for (const key of Object.keys(l)) if (!LISTENER_KEYS.has(key)) problems.push(`${path}.${key}: unknown key`);
      const type = l.type ?? 'tcp';
      if (type !== 'tcp' && type !== 'ws') problems.push(`${path}.type: expected tcp or ws, got ${JSON.stringify(type)}`);
      const bind = typeof l.bind === 'number' ? String(l.bind) : (l.bind ?? DEFAULT_BIND);
      const addr = typeof bind === 'string' ? parseBind(bind) : undefined;
      if (!addr) problems.push(`${path}.bind: expected host:port, :port or [ipv6]:port, got ${JSON.stringify(l.bind)}`);
      const ssl = l.ssl === undefined ? false : parseFlag(l.ssl);
      if (ssl === undefined) problems.push(`${path}.ssl: expected on/off, yes/no or a boolean, got ${JSON.stringify(l.ssl)}`);
      const maxConnections = num(`${path}.max-connections`, l['max-connections'] ?? l.max_connections, 0, 0);
      listeners.push({
        name,
        type: type === 'ws' ? 'ws' : 'tcp',
        host: addr?.host ?? '0.0.0.0',
        port: addr?.port ?? 1883,
        maxConnections,
        ssl: ssl ?? false,
        cafile: str(`${path}.cafile`, l.cafile),
        capath: str(`${path}.capath`, l.capath),
        cadata: str(`${path}.cadata`, l.cadata),
        certfile: str(`${path}.certfile`, l.certfile),
        keyfile: str(`${path}.keyfile`, l.keyfile),
      });
    }
  }

  const rawAuth = (input.auth ?? {}) as Record<string, unknown>;
  let auth: AuthConfig = { plugins: ['auth.anonymous'], allowAnonymous: true };
  if (!isObject(rawAuth)) problems.push('auth: expected a mapping');
  else {
    for (const key of Object.keys(rawAuth)) if (!AUTH_KEYS.has(key)) problems.push(`auth.${key}: unknown key`);
    const plugins = rawAuth.plugins ?? ['auth.anonymous'];
    if (!Array.isArray(plugins) || plugins.some((p) => typeof p !== 'string')) {
      problems.push('auth.plugins: expected a list of plugin names');
    }
    const anonRaw = rawAuth['allow-anonymous'] ?? rawAuth.allow_anonymous;
    const allowAnonymous = anonRaw === undefined ? true : parseFlag(anonRaw);
    if (allowAnonymous === undefined) problems.push(`auth.allow-anonymous: expected a boolean, got ${JSON.stringify(anonRaw)}`);
    const passwordFile = rawAuth['password-file'] ?? rawAuth.password_file;
    if (passwordFile !== undefined && typeof passwordFile !== 'string') problems.push('auth.password-file: expected a path');
    auth = {
      plugins: Array.isArray(plugins) ? (plugins as string[]) : ['auth.anonymous'],
      allowAnonymous: allowAnonymous ?? true,
      passwordFile: typeof passwordFile === 'string' ? passwordFile : undefined,
    };
  }

  const rawLimits = (input.limits ?? {}) as Record<string, unknown>;
  const limits: Record<string, number | boolean> = { ...DEFAULT_LIMITS };
  if (!isObject(rawLimits)) problems.push('limits: expected a mapping');
  else {
    for (const [key, v] of Object.entries(rawLimits)) {
      const field = LIMIT_KEYS[key];
      if (!field) {
        problems.push(`limits.${key}: unknown key`);
        continue;
      }
      if (typeof DEFAULT_LIMITS[field] === 'boolean') {
        const flag = parseFlag(v);
        if (flag === undefined) problems.push(`limits.${key}: expected a boolean, got ${JSON.stringify(v)}`);
        else limits[field] = flag;
      } else {
        limits[field] = num(`limits.${key}`, v, key === 'connect-timeout' ? 0 : 1, DEFAULT_LIMITS[field] as number);
      }
    }
  }

  const topicCheck = input['topic-check'] ?? {};
  if (!isObject(topicCheck)) problems.push('topic-check: expected a mapping');

  const config: BrokerConfig = {
    listeners: Object.freeze(listeners.map((l) => Object.freeze(l))),
    timeoutDisconnectDelay: num('timeout-disconnect-delay', input['timeout-disconnect-delay'], 0, 0),
    auth: Object.freeze({ ...auth, plugins: Object.freeze([...auth.plugins]) }),
    topicCheck: Object.freeze(isObject(topicCheck) ? { ...topicCheck } : {}),
    sysInterval: num('sys_interval', input.sys_interval ?? input['sys-interval'], 0, 0),
    limits: Object.freeze(limits) as unknown as LimitsConfig,
  };
  if (problems.length > 0) throw new ConfigError(problems, source);
  Object.freeze(config);
  validated.add(config);
  return config;
}
