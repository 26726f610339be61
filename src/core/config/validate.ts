import type {
  PersistenceConfig,
  AdminConfig,
  LoggingConfig,
  LogLevel,
  AuthConfig,
  AuthPluginName,
  TopicCheckConfig,
  TopicCheckPluginName,
  BrokerConfig,
  BrokerConfigInput,
  LimitsConfig,
  ListenerConfig,
  ListenerConfigInput,
  ClusterConfig,
} from './types';
import { hostname } from 'node:os';

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
  maxConnectPacketSize: 64 * 1024,
  maxConnectionsPerAddress: 100,
  limitLoopbackConnections: false,
  connectTimeout: 10,
  maxInflightMessages: 100,
  maxQueuedMessages: 1000,
  queueQos0Messages: false,
  maxSubscriptions: 1000,
  maxTopicLength: 65535,
  maxTopicLevels: 128,
  maxClientIdLength: 256,
  maxWriteBuffer: 4 * 1024 * 1024,
  maxQueuedBytes: 256 * 1024 * 1024,
  queueFullPolicy: 'drop-new',
  sessionExpiry: 7 * 24 * 3600,
  maxConcurrentAuth: 4,
  maxPendingAuth: 1000,
  maxPendingAuthPerAddress: 16,
  maxAuthFailuresPerAddress: 20,
  authFailureWindow: 60,
  authLimitsExemptLoopback: false,
  maxQueuedBytesPerSession: 64 * 1024,
  maxPublisherPause: 5,
  maxSessions: 100_000,
  maxSessionsPerUser: 1000,
  maxFiltersPerSubscribe: 256,
  maxRetainedMessages: 1_000_000,
  maxRetainedBytes: 1024 * 1024 * 1024,
  maxRetainedMessagesPerUser: 10_000,
  maxRetainedBytesPerUser: 64 * 1024 * 1024,
  sharedSubscriptionStrategy: 'round-robin',
  maxSharedGroups: 10_000,
  maxSharedGroupMembers: 1000,
  maxAuthSteps: 4,
  maxReauthPerMinute: 10,
  maxKeepalive: 0,
  maxTopicAlias: 10,
  maxOutboundTopicAliases: 10,
});

const DEFAULT_BIND = '0.0.0.0:1883';
/** Admin HTTP default: clear of MQTT (1883/8883) and the usual WebSocket ports (8080/8083/8084/9001). */
export const DEFAULT_ADMIN_BIND = '0.0.0.0:18883';
const ADMIN_KEYS = new Set(['enabled', 'bind', 'token', 'max-connections', 'headers-timeout', 'request-timeout', 'keep-alive-timeout', 'max-tracers']);
/** Admin HTTP defaults: a slow client (slowloris) is cut off in seconds, and a flood of them meets a cap. */
export const DEFAULT_ADMIN_HTTP = Object.freeze({ maxConnections: 64, headersTimeout: 10, requestTimeout: 30, keepAliveTimeout: 5, maxTracers: 4 });
const LOGGING_KEYS = new Set(['level', 'format']);
const RELOAD_KEYS = new Set(['watch', 'debounce']);
const PERSISTENCE_KEYS = new Set(['backend', 'path', 'synchronous', 'plugin', 'redis', 'redis-prefix', 'redis-wait-replicas', 'redis-wait-timeout']);

const TOP_KEYS = new Set([
  'listeners', 'timeout-disconnect-delay', 'auth', 'topic-check', 'sys_interval', 'sys-interval', 'limits', 'plugins',
  'admin', 'logging', 'shutdown-grace-period', 'shutdown-drain-delay', 'reload',
  // hbmqtt keys it reads but nestmq has no use for (accepted so hbmqtt files load unchanged).
  'publish-retry-delay', 'persistence',
  'response-information', 'cluster',
]);
const CLUSTER_KEYS = new Set(['redis', 'node-id', 'prefix', 'lease-ms', 'node-ttl-ms']);
const LISTENER_KEYS = new Set([
  'bind', 'type', 'max-connections', 'max_connections', 'ssl', 'cafile', 'capath', 'cadata', 'certfile', 'keyfile',
  'require-certificate', 'use-identity-as-username',
]);
const AUTH_KEYS = new Set(['plugins', 'allow-anonymous', 'allow_anonymous', 'password-file', 'password_file', 'cache-size']);
const TOPIC_CHECK_KEYS = new Set(['enabled', 'plugins', 'acl', 'publish-acl', 'publish_acl', 'acl-file', 'acl_file']);

/** hbmqtt documents `auth.anonymous`/`auth.file` while its code registers `auth_anonymous`/`auth_file`: both work. */
const AUTH_PLUGINS: Record<string, AuthPluginName> = {
  'auth.anonymous': 'auth.anonymous',
  auth_anonymous: 'auth.anonymous',
  'auth.file': 'auth.file',
  auth_file: 'auth.file',
  // MQTT 5 enhanced authentication, method SCRAM-SHA-256, over the password file's SCRAM entries.
  'auth.scram': 'auth.scram',
  auth_scram: 'auth.scram',
  // amqtt >= 0.11 names plugins by class.
  'amqtt.plugins.authentication.AnonymousAuthPlugin': 'auth.anonymous',
  'amqtt.plugins.authentication.FileAuthPlugin': 'auth.file',
  'amqtt.plugin.authentication.FileAuthPlugin': 'auth.file',
};
const TOPIC_PLUGINS: Record<string, TopicCheckPluginName> = {
  topic_taboo: 'topic_taboo',
  'topic.taboo': 'topic_taboo',
  topic_acl: 'topic_acl',
  'topic.acl': 'topic_acl',
  'amqtt.plugins.topic_checking.TopicTabooPlugin': 'topic_taboo',
  'amqtt.plugins.topic_checking.TopicAccessControlListPlugin': 'topic_acl',
};
/** Other plugin names of hbmqtt/amqtt files: their function is built in (or not needed), accepted silently. */
const BUILTIN_PLUGINS = new Set([
  'broker_sys', 'amqtt.plugins.sys.broker.BrokerSysPlugin', 'event_logger_plugin', 'packet_logger_plugin',
  'amqtt.plugins.logging_amqtt.EventLoggerPlugin', 'amqtt.plugins.logging_amqtt.PacketLoggerPlugin',
]);
/** How a numeric limit is checked: its bounds, and whether it counts things (an integer). */
interface LimitRange {
  readonly field: keyof LimitsConfig;
  readonly min: number;
  readonly max: number;
  readonly integer: boolean;
}

const MAX_WIRE_LENGTH = 268_435_455;
/** Seconds Node can arm a timer for (2^31-1 ms, about 24.8 days); longer ones fire at once. */
const MAX_TIMER_S = 2_147_483;
const range = (field: keyof LimitsConfig, min: number, max: number, integer = true): LimitRange => ({ field, min, max, integer });

/**
 * Every `limits` key with its bounds. Counts are integers; the upper bounds are what the protocol
 * or the implementation can honour: 65535 packet ids in flight [MQTT-2.3.1-1] (more would leave
 * no free id), 65535-byte strings [MQTT-1.5.3], 268435455-byte packets (section 2.2.3), and
 * timers Node can arm (2^31-1 ms).
 */
const LIMIT_KEYS: Record<string, LimitRange | keyof LimitsConfig> = {
  'max-packet-size': range('maxPacketSize', 1, MAX_WIRE_LENGTH),
  'max-connect-packet-size': range('maxConnectPacketSize', 1, MAX_WIRE_LENGTH),
  'max-connections-per-address': range('maxConnectionsPerAddress', 0, 1_000_000),
  'limit-loopback-connections': 'limitLoopbackConnections',
  'connect-timeout': range('connectTimeout', 0, 3600, false),
  'max-inflight-messages': range('maxInflightMessages', 1, 65535),
  'max-queued-messages': range('maxQueuedMessages', 1, 100_000_000),
  'queue-qos0-messages': 'queueQos0Messages',
  'max-subscriptions': range('maxSubscriptions', 1, 10_000_000),
  'max-topic-length': range('maxTopicLength', 1, 65535),
  'max-topic-levels': range('maxTopicLevels', 1, 65535),
  'max-client-id-length': range('maxClientIdLength', 1, 65535),
  'max-write-buffer': range('maxWriteBuffer', 1, 2 ** 40),
  'max-queued-bytes': range('maxQueuedBytes', 1, 2 ** 50),
  'queue-full-policy': 'queueFullPolicy',
  // Seconds; the expiry sweep runs at most every 60 s, so any integer number of seconds works.
  'session-expiry': range('sessionExpiry', 0, 100 * 365 * 24 * 3600),
  'max-concurrent-auth': range('maxConcurrentAuth', 1, 1024),
  'max-pending-auth': range('maxPendingAuth', 1, 10_000_000),
  'max-pending-auth-per-address': range('maxPendingAuthPerAddress', 0, 10_000_000),
  'max-auth-failures-per-address': range('maxAuthFailuresPerAddress', 0, 10_000_000),
  'auth-failure-window': range('authFailureWindow', 1, MAX_TIMER_S),
  'auth-limits-exempt-loopback': 'authLimitsExemptLoopback',
  'max-queued-bytes-per-session': range('maxQueuedBytesPerSession', 0, 2 ** 40),
  'max-publisher-pause': range('maxPublisherPause', 0, 3600, false),
  'max-sessions': range('maxSessions', 0, 100_000_000),
  'max-sessions-per-user': range('maxSessionsPerUser', 0, 100_000_000),
  'max-filters-per-subscribe': range('maxFiltersPerSubscribe', 1, 65535),
  'max-retained-messages': range('maxRetainedMessages', 1, 1_000_000_000),
  'max-retained-bytes': range('maxRetainedBytes', 1, 2 ** 50),
  'max-retained-messages-per-user': range('maxRetainedMessagesPerUser', 1, 1_000_000_000),
  'max-retained-bytes-per-user': range('maxRetainedBytesPerUser', 1, 2 ** 50),
  'shared-subscription-strategy': 'sharedSubscriptionStrategy',
  'max-shared-groups': range('maxSharedGroups', 1, 100_000_000),
  'max-shared-group-members': range('maxSharedGroupMembers', 1, 100_000_000),
  'max-auth-steps': range('maxAuthSteps', 1, 64),
  'max-reauth-per-minute': range('maxReauthPerMinute', 0, 1_000_000),
  // Seconds; Server Keep Alive is a two-byte integer.
  'max-keepalive': range('maxKeepalive', 0, 65535),
  // MQTT 5 Topic Alias is a Two Byte Integer.
  'max-topic-alias': range('maxTopicAlias', 0, 65535),
  'max-outbound-topic-aliases': range('maxOutboundTopicAliases', 0, 65535),
};

/** Own keys only: `constructor`, `toString` and the like are not configuration keys. */
function own<T>(table: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The placeholder of hbmqtt's documented example (`allow-anonymous: true / false`), spacing aside. */
const HBMQTT_FLAG_PLACEHOLDER = /^\s*true\s*\/\s*false\s*$/i;

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
 * One validator for every entry point (embedding object, YAML file, Nest BrokerConfigModule): reports
 * every problem at once by key path, and returns a frozen, complete config.
 */
export function validateConfig(raw: unknown, source?: string, listenerSources?: Readonly<Record<string, string>>): BrokerConfig {
  if (isValidatedConfig(raw)) return raw;
  const problems: string[] = [];
  const input: BrokerConfigInput = raw === undefined || raw === null ? {} : (raw as BrokerConfigInput);
  if (!isObject(input)) throw new ConfigError(['(root): expected a mapping of configuration keys'], source);

  for (const key of Object.keys(input)) {
    if (!TOP_KEYS.has(key)) problems.push(`${key}: unknown key`);
  }

  /** A number within [min, max], an integer when it counts something; the key is named on failure. */
  const bounded = (path: string, v: unknown, min: number, max: number, integer: boolean, fallback: number): number => {
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < min || v > max) {
      problems.push(`${path}: expected ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got ${JSON.stringify(v)}`);
      return fallback;
    }
    return v;
  };

  const warnings: string[] = [];
  /**
   * hbmqtt's booleans: on/off, yes/no, true/false and YAML booleans, for every boolean key (listeners,
   * auth, topic-check, admin, limits). hbmqtt reads any other non-empty string as true (Python
   * truthiness), so `allow-anonymous: flase` opened its broker: nestmq refuses such a value. The one
   * exception is the placeholder of hbmqtt's own documented example, `true / false`, which hbmqtt
   * users copy unchanged: read as true, as hbmqtt does, with a warning.
   */
  const flag = (path: string, v: unknown, fallback: boolean): boolean => {
    if (v === undefined || v === null) return fallback;
    const f = parseFlag(v);
    if (f !== undefined) return f;
    if (typeof v === 'string' && HBMQTT_FLAG_PLACEHOLDER.test(v)) {
      warnings.push(`${path}: ${JSON.stringify(v)} is hbmqtt's documentation placeholder, not a value; read as true, as hbmqtt does: write true or false`);
      return true;
    }
    problems.push(`${path}: expected true/false, on/off or yes/no, got ${JSON.stringify(v)}`);
    return fallback;
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
    // As hbmqtt: `default` is a listener like the others (started when it has a bind), and is
    // merged into each named one.
    const entries: [string, ListenerConfigInput][] = names.map((n) => [
      n,
      { ...(isObject(defaults) ? defaults : {}), ...((rawListeners[n] ?? {}) as object) },
    ]);
    if (isObject(defaults) && defaults.bind !== undefined) entries.unshift(['default', defaults]);
    for (const [name, l] of entries) {
      const path = `listeners.${name}`;
      const firstProblem = problems.length;
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
      const ssl = flag(`${path}.ssl`, l.ssl, false);
      const maxConnections = bounded(`${path}.max-connections`, l['max-connections'] ?? l.max_connections, 0, 1_000_000, true, 0);
      const requireCertificate = flag(`${path}.require-certificate`, l['require-certificate'], false);
      const useIdentityAsUsername = flag(`${path}.use-identity-as-username`, l['use-identity-as-username'], false);
      const hasCa = l.cafile !== undefined || l.capath !== undefined || l.cadata !== undefined;
      if ((requireCertificate || useIdentityAsUsername) && !(ssl && hasCa)) {
        problems.push(
          `${path}.${requireCertificate ? 'require-certificate' : 'use-identity-as-username'}: needs ssl: on and a CA (cafile, capath or cadata) to verify client certificates`,
        );
      }
      if (ssl && (l.certfile === undefined || l.keyfile === undefined)) problems.push(`${path}.ssl: on needs certfile and keyfile`);
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
        requireCertificate,
        useIdentityAsUsername,
      });
      // A bad key inherited from `default` is reported once, under listeners.default, not again
      // under every listener that inherits it.
      if (name !== 'default' && isObject(defaults)) {
        const own = (rawListeners[name] ?? {}) as Record<string, unknown>;
        for (let i = firstProblem; i < problems.length; i++) {
          const key = /^\.([^.:]+)[.:]/.exec(problems[i].slice(path.length))?.[1];
          if (key !== undefined && problems[i].startsWith(`${path}.`) && Object.hasOwn(defaults, key) && !(isObject(own) && Object.hasOwn(own, key))) {
            problems[i] = `listeners.default${problems[i].slice(path.length)}`;
          }
        }
      }
    }
  }

  // auth: hbmqtt's section, plus amqtt's top-level `plugins` list (names, or one-key mappings of
  // a class name to its settings).
  const rawAuth = (input.auth ?? {}) as Record<string, unknown>;
  const authPlugins: AuthPluginName[] = [];
  const topicPlugins: TopicCheckPluginName[] = [];
  let allowAnonymousRaw: unknown;
  let passwordFileRaw: unknown;
  let amqttAcl: unknown;
  const addPlugin = (path: string, name: unknown): void => {
    if (typeof name !== 'string') return void problems.push(`${path}: expected a plugin name`);
    const auth = own(AUTH_PLUGINS, name);
    const topic = own(TOPIC_PLUGINS, name);
    if (auth !== undefined) {
      if (!authPlugins.includes(auth)) authPlugins.push(auth);
    } else if (topic !== undefined) {
      if (!topicPlugins.includes(topic)) topicPlugins.push(topic);
    } else if (!BUILTIN_PLUGINS.has(name)) {
      problems.push(`${path}: unknown plugin ${JSON.stringify(name)} (known: auth.anonymous, auth.file, auth.scram, topic_taboo, topic_acl)`);
    }
  };
  if (input.plugins !== undefined) {
    if (!Array.isArray(input.plugins)) problems.push('plugins: expected a list of plugin names');
    else
      input.plugins.forEach((entry: unknown, i: number) => {
        if (isObject(entry) && Object.keys(entry).length === 1) {
          const [name, settings] = Object.entries(entry)[0];
          addPlugin(`plugins[${i}]`, name);
          if (isObject(settings)) {
            if (settings['allow-anonymous'] !== undefined) allowAnonymousRaw = settings['allow-anonymous'];
            if (settings['password-file'] !== undefined) passwordFileRaw = settings['password-file'];
            if (settings.acl !== undefined) amqttAcl = settings.acl;
          }
        } else addPlugin(`plugins[${i}]`, entry);
      });
  }
  if (!isObject(rawAuth)) problems.push('auth: expected a mapping');
  else {
    for (const key of Object.keys(rawAuth)) if (!AUTH_KEYS.has(key)) problems.push(`auth.${key}: unknown key`);
    if (rawAuth.plugins !== undefined) {
      if (!Array.isArray(rawAuth.plugins)) problems.push('auth.plugins: expected a list of plugin names');
      else rawAuth.plugins.forEach((name: unknown, i: number) => addPlugin(`auth.plugins[${i}]`, name));
    }
    allowAnonymousRaw = rawAuth['allow-anonymous'] ?? rawAuth.allow_anonymous ?? allowAnonymousRaw;
    passwordFileRaw = rawAuth['password-file'] ?? rawAuth.password_file ?? passwordFileRaw;
  }
  if (authPlugins.length === 0 && input.plugins === undefined) authPlugins.push('auth.anonymous');
  const passwordFile = str('auth.password-file', passwordFileRaw);
  // hbmqtt runs its own sample (scripts/default_broker.yaml: auth_file without a password file):
  // its file plugin warns and knows no users. So does ours; a username is then refused, never
  // accepted unchecked.
  if ((authPlugins.includes('auth.file') || authPlugins.includes('auth.scram')) && passwordFile === undefined) {
    warnings.push('auth.password-file: not set, so the auth.file plugin knows no users (every username is refused), as in hbmqtt');
  }
  const auth: AuthConfig = {
    plugins: authPlugins,
    allowAnonymous: flag('auth.allow-anonymous', allowAnonymousRaw, true),
    passwordFile,
    cacheSize: bounded('auth.cache-size', isObject(rawAuth) ? rawAuth['cache-size'] : undefined, 0, 10_000_000, true, 10_000),
  };

  // topic-check: hbmqtt's `enabled`, `plugins`, `acl`; amqtt's `publish-acl`; nestmq's `acl-file`
  // (Mosquitto's acl_file syntax).
  const rawTopicCheck = input['topic-check'] ?? {};
  const aclMap = (path: string, v: unknown): Record<string, readonly string[]> | undefined => {
    if (v === undefined || v === null) return undefined;
    if (!isObject(v)) return void problems.push(`${path}: expected a mapping of usernames to topic lists`);
    // No prototype: a username such as `constructor` or `__proto__` is an ordinary key, and a
    // lookup by username finds only configured users.
    const out: Record<string, readonly string[]> = Object.create(null) as Record<string, readonly string[]>;
    for (const [user, topics] of Object.entries(v)) {
      if (!Array.isArray(topics) || topics.some((t) => typeof t !== 'string')) {
        problems.push(`${path}.${user}: expected a list of topics`);
        continue;
      }
      out[user] = Object.freeze([...(topics as string[])]);
    }
    return Object.freeze(out);
  };
  let topicCheck: TopicCheckConfig = { enabled: topicPlugins.length > 0, plugins: topicPlugins };
  if (!isObject(rawTopicCheck)) problems.push('topic-check: expected a mapping');
  else {
    for (const key of Object.keys(rawTopicCheck)) if (!TOPIC_CHECK_KEYS.has(key)) problems.push(`topic-check.${key}: unknown key`);
    if (rawTopicCheck.plugins !== undefined) {
      if (!Array.isArray(rawTopicCheck.plugins)) problems.push('topic-check.plugins: expected a list of plugin names');
      else
        rawTopicCheck.plugins.forEach((name: unknown, i: number) => {
          const t = typeof name === 'string' ? own(TOPIC_PLUGINS, name) : undefined;
          if (t === undefined) problems.push(`topic-check.plugins[${i}]: unknown topic plugin ${JSON.stringify(name)} (known: topic_taboo, topic_acl)`);
          else if (!topicPlugins.includes(t)) topicPlugins.push(t);
        });
    }
    const aclFile = str('topic-check.acl-file', rawTopicCheck['acl-file'] ?? rawTopicCheck.acl_file);
    topicCheck = {
      // An ACL given is an ACL meant: on unless `enabled: false` says otherwise.
      enabled: flag(
        'topic-check.enabled',
        rawTopicCheck.enabled,
        topicPlugins.length > 0 || aclFile !== undefined || amqttAcl !== undefined || rawTopicCheck.acl !== undefined || (rawTopicCheck['publish-acl'] ?? rawTopicCheck.publish_acl) !== undefined,
      ),
      plugins: Object.freeze(topicPlugins),
      acl: aclMap('topic-check.acl', rawTopicCheck.acl ?? amqttAcl),
      publishAcl: aclMap('topic-check.publish-acl', rawTopicCheck['publish-acl'] ?? rawTopicCheck.publish_acl),
      aclFile,
    };
  }

  const rawLimits = (input.limits ?? {}) as Record<string, unknown>;
  const limits: Record<string, number | boolean | string> = { ...DEFAULT_LIMITS };
  if (!isObject(rawLimits)) problems.push('limits: expected a mapping');
  else {
    for (const [key, v] of Object.entries(rawLimits)) {
      const spec = own(LIMIT_KEYS, key);
      if (spec === undefined) {
        problems.push(`limits.${key}: unknown key`);
        continue;
      }
      const field = typeof spec === 'string' ? spec : spec.field;
      if (typeof spec !== 'string') {
        limits[field] = bounded(`limits.${key}`, v, spec.min, spec.max, spec.integer, DEFAULT_LIMITS[field] as number);
      } else if (field === 'queueFullPolicy') {
        if (v !== 'drop-new' && v !== 'drop-oldest') problems.push(`limits.${key}: expected drop-new or drop-oldest, got ${JSON.stringify(v)}`);
        else limits[field] = v;
      } else if (field === 'sharedSubscriptionStrategy') {
        if (v !== 'round-robin' && v !== 'random' && v !== 'sticky') problems.push(`limits.${key}: expected round-robin, random or sticky, got ${JSON.stringify(v)}`);
        else limits[field] = v;
      } else if (typeof DEFAULT_LIMITS[field] === 'boolean') {
        const f = parseFlag(v);
        if (f === undefined) problems.push(`limits.${key}: expected true/false, on/off or yes/no, got ${JSON.stringify(v)}`);
        else limits[field] = f;
      }
    }
  }

  const rawAdmin = (input.admin ?? {}) as Record<string, unknown>;
  let admin: AdminConfig = { enabled: true, ...parseBind(DEFAULT_ADMIN_BIND)!, ...DEFAULT_ADMIN_HTTP };
  if (!isObject(rawAdmin)) problems.push('admin: expected a mapping');
  else {
    for (const key of Object.keys(rawAdmin)) if (!ADMIN_KEYS.has(key)) problems.push(`admin.${key}: unknown key`);
    const bind = rawAdmin.bind === undefined ? DEFAULT_ADMIN_BIND : String(rawAdmin.bind);
    const addr = parseBind(bind);
    if (!addr) problems.push(`admin.bind: expected host:port, :port or [ipv6]:port, got ${JSON.stringify(rawAdmin.bind)}`);
    // A secret: a numeric-looking token (from YAML or the environment) is taken as its text, and
    // no message ever repeats the value.
    const rawToken = rawAdmin.token;
    const token = typeof rawToken === 'number' || typeof rawToken === 'bigint' ? String(rawToken) : typeof rawToken === 'string' ? rawToken : undefined;
    if (rawToken !== undefined && rawToken !== null && token === undefined) problems.push('admin.token: expected a string (value not shown)');
    if (token !== undefined && token.length < 16) problems.push('admin.token: expected at least 16 characters');
    const d = DEFAULT_ADMIN_HTTP;
    const headersTimeout = bounded('admin.headers-timeout', rawAdmin['headers-timeout'], 0.1, 3600, false, d.headersTimeout);
    const requestTimeout = bounded('admin.request-timeout', rawAdmin['request-timeout'], 0.1, 3600, false, Math.max(d.requestTimeout, headersTimeout));
    // Node requires it: the headers are part of the request.
    if (headersTimeout > requestTimeout) problems.push(`admin.headers-timeout: must not exceed admin.request-timeout (${requestTimeout})`);
    admin = {
      enabled: flag('admin.enabled', rawAdmin.enabled, true),
      host: addr?.host ?? '0.0.0.0',
      port: addr?.port ?? 18883,
      token,
      maxConnections: bounded('admin.max-connections', rawAdmin['max-connections'], 0, 100_000, true, d.maxConnections),
      headersTimeout,
      requestTimeout,
      keepAliveTimeout: bounded('admin.keep-alive-timeout', rawAdmin['keep-alive-timeout'], 0, 3600, false, d.keepAliveTimeout),
      maxTracers: bounded('admin.max-tracers', rawAdmin['max-tracers'], 0, 64, true, d.maxTracers),
    };
  }

  // persistence: nestmq's backend choice. hbmqtt's docstring shows `persistence: {plugin: ...}`,
  // which hbmqtt never implemented: accepted with a warning, memory used.
  const rawPersistence = (input.persistence ?? {}) as Record<string, unknown>;
  const persistenceDefaults = { redis: null, redisPrefix: 'nestmq', redisWaitReplicas: 0, redisWaitTimeout: 1000 };
  let persistence: PersistenceConfig = { backend: 'memory', path: 'data/nestmq.db', synchronous: 'normal', ...persistenceDefaults };
  if (!isObject(rawPersistence)) problems.push('persistence: expected a mapping');
  else {
    for (const key of Object.keys(rawPersistence)) if (!PERSISTENCE_KEYS.has(key)) problems.push(`persistence.${key}: unknown key`);
    if (rawPersistence.plugin !== undefined) warnings.push('persistence.plugin: hbmqtt key without effect; use persistence.backend: sqlite');
    const backend = rawPersistence.backend ?? 'memory';
    if (backend !== 'memory' && backend !== 'sqlite' && backend !== 'redis') problems.push(`persistence.backend: expected memory, sqlite or redis, got ${JSON.stringify(backend)}`);
    const redis = str('persistence.redis', rawPersistence.redis) ?? null;
    if (redis !== null && !/^rediss?:\/\//.test(redis)) problems.push(`persistence.redis: expected a redis:// or rediss:// URL`);
    // A clustered node (cluster.redis) passes its own URL to createRedisStores: only a single node needs this key.
    if (backend === 'redis' && redis === null && input.cluster === undefined) problems.push('persistence.redis: required with backend redis (a redis:// URL)');
    // A clustered node keeps sessions and retained messages in the cluster's Redis (stores/index.ts).
    if (backend === 'sqlite' && input.cluster !== undefined) problems.push('persistence.backend: sqlite cannot be used with cluster (a clustered node keeps sessions and retained messages in the cluster\'s Redis: memory or redis)');
    const prefix = str('persistence.redis-prefix', rawPersistence['redis-prefix']) ?? 'nestmq';
    const sync = rawPersistence.synchronous ?? 'normal';
    if (sync !== 'normal' && sync !== 'full') problems.push(`persistence.synchronous: expected normal or full, got ${JSON.stringify(sync)}`);
    persistence = {
      backend: backend === 'sqlite' || backend === 'redis' ? backend : 'memory',
      path: str('persistence.path', rawPersistence.path) ?? 'data/nestmq.db',
      synchronous: sync === 'full' ? 'full' : 'normal',
      redis,
      redisPrefix: prefix,
      redisWaitReplicas: bounded('persistence.redis-wait-replicas', rawPersistence['redis-wait-replicas'], 0, 100, true, 0),
      redisWaitTimeout: bounded('persistence.redis-wait-timeout', rawPersistence['redis-wait-timeout'], 1, 60_000, true, 1000),
    };
  }

  const rawLogging = (input.logging ?? {}) as Record<string, unknown>;
  let logging: LoggingConfig = { level: 'info', format: 'json' };
  if (!isObject(rawLogging)) problems.push('logging: expected a mapping');
  else {
    for (const key of Object.keys(rawLogging)) if (!LOGGING_KEYS.has(key)) problems.push(`logging.${key}: unknown key`);
    const level = rawLogging.level ?? 'info';
    if (!['debug', 'info', 'warn', 'error'].includes(level as string)) problems.push(`logging.level: expected debug, info, warn or error, got ${JSON.stringify(level)}`);
    const format = rawLogging.format ?? 'json';
    if (format !== 'json' && format !== 'pretty') problems.push(`logging.format: expected json or pretty, got ${JSON.stringify(format)}`);
    logging = { level: level as LogLevel, format: format === 'pretty' ? 'pretty' : 'json' };
  }

  for (const l of listeners) {
    const from = listenerSources?.[l.name];
    if (from?.startsWith('environment ')) warnings.push(`listeners.${l.name}: created by the ${from}: check the listener name`);
  }

  const rawReload = (input.reload ?? {}) as Record<string, unknown>;
  let reload = { watch: true, debounce: 1 };
  if (!isObject(rawReload)) problems.push('reload: expected a mapping');
  else {
    for (const key of Object.keys(rawReload)) if (!RELOAD_KEYS.has(key)) problems.push(`reload.${key}: unknown key`);
    reload = { watch: flag('reload.watch', rawReload.watch, true), debounce: bounded('reload.debounce', rawReload.debounce, 0, 3600, false, 1) };
  }

  const config: BrokerConfig = {
    listeners: Object.freeze(listeners.map((l) => Object.freeze(l))),
    timeoutDisconnectDelay: bounded('timeout-disconnect-delay', input['timeout-disconnect-delay'], 0, MAX_TIMER_S, false, 0),
    auth: Object.freeze({ ...auth, plugins: Object.freeze([...auth.plugins]) }),
    topicCheck: Object.freeze(topicCheck),
    sysInterval: bounded('sys_interval', input.sys_interval ?? input['sys-interval'], 0, MAX_TIMER_S, false, 0),
    limits: Object.freeze(limits) as unknown as LimitsConfig,
    admin: Object.freeze(admin),
    logging: Object.freeze(logging),
    persistence: Object.freeze(persistence),
    shutdownGracePeriod: bounded('shutdown-grace-period', input['shutdown-grace-period'], 0, MAX_TIMER_S, false, 10),
    shutdownDrainDelay: bounded('shutdown-drain-delay', input['shutdown-drain-delay'], 0, 3600, false, 0),
    reload: Object.freeze(reload),
    listenerSources: Object.freeze(
      Object.fromEntries(
        listeners.map((l) => [l.name, listenerSources?.[l.name] ?? (input.listeners === undefined ? `default (${DEFAULT_BIND})` : 'configuration')]),
      ),
    ),
    warnings: Object.freeze(warnings),
    responseInformation: responseInformation(input['response-information'], problems),
    cluster: clusterConfig(input.cluster, problems, bounded),
  };
  if (problems.length > 0) throw new ConfigError([...new Set(problems)], source);
  Object.freeze(config);
  validated.add(config);
  return config;
}

/**
 * `cluster`: absent = single node. `redis` is required once the section is there (an env
 * override NESTMQ_CLUSTER__REDIS alone creates it); `node-id` defaults to the hostname.
 */
function clusterConfig(
  v: unknown,
  problems: string[],
  bounded: (path: string, v: unknown, min: number, max: number, integer: boolean, fallback: number) => number,
): ClusterConfig | null {
  if (v === undefined || v === null) return null;
  if (!isObject(v)) {
    problems.push('cluster: expected a mapping (redis, node-id, prefix, lease-ms, node-ttl-ms)');
    return null;
  }
  for (const key of Object.keys(v)) if (!CLUSTER_KEYS.has(key)) problems.push(`cluster.${key}: unknown key`);
  const redis = v.redis;
  if (typeof redis !== 'string' || !/^rediss?:\/\/[^\s]+$/.test(redis)) {
    // The value may hold a password (redis://:secret@host): never echoed.
    problems.push(`cluster.redis: expected a Redis URL such as redis://redis:6379, got ${typeof redis === 'string' ? 'a string that is not one' : JSON.stringify(redis)}`);
    return null;
  }
  const rawId = v['node-id'] ?? hostname();
  const nodeId = typeof rawId === 'number' ? String(rawId) : rawId;
  // A node id is part of Redis keys and hash tags: no braces, no whitespace.
  if (typeof nodeId !== 'string' || !/^[A-Za-z0-9._-]{1,128}$/.test(nodeId)) {
    problems.push(`cluster.node-id: expected 1 to 128 letters, digits, '.', '_' or '-', got ${JSON.stringify(rawId)}`);
    return null;
  }
  const prefix = v.prefix ?? 'nestmq';
  if (typeof prefix !== 'string' || !/^[A-Za-z0-9._:-]{1,64}$/.test(prefix)) {
    problems.push(`cluster.prefix: expected 1 to 64 letters, digits, '.', '_', ':' or '-', got ${JSON.stringify(prefix)}`);
    return null;
  }
  return Object.freeze({
    redis,
    nodeId,
    prefix,
    leaseMs: bounded('cluster.lease-ms', v['lease-ms'], 300, 3_600_000, true, 15000),
    nodeTtlMs: bounded('cluster.node-ttl-ms', v['node-ttl-ms'], 300, 3_600_000, true, 10000),
  });
}

/** `response-information`: a topic prefix (a valid topic once a client id follows it), or empty. */
function responseInformation(v: unknown, problems: string[]): string {
  if (v === undefined || v === null || v === '') return '';
  if (typeof v !== 'string' || v.includes('+') || v.includes('#') || v.includes('\0') || Buffer.byteLength(v) > 1024) {
    problems.push(`response-information: expected a topic prefix without wildcards (at most 1024 bytes), got ${JSON.stringify(v)}`);
    return '';
  }
  return v;
}

/** The config as it may be shown or logged: secrets replaced by '***'. */
export function maskSecrets(config: BrokerConfig): unknown {
  return { ...config, admin: { ...config.admin, token: config.admin.token === undefined ? undefined : '***' } };
}
