/**
 * Broker configuration: hbmqtt's keys with hbmqtt's meaning, plus nestmq's own keys (limits) in
 * the same kebab-case style. `BrokerConfigInput` is what a user writes (YAML or object);
 * `BrokerConfig` is what validateConfig() returns: complete, typed, frozen.
 */

export type ListenerType = 'tcp' | 'ws';

/** One listener as written by the user; every key optional, `default` supplies the rest. */
export interface ListenerConfigInput {
  bind?: string;
  type?: ListenerType;
  'max-connections'?: number;
  /** hbmqtt's code reads this spelling; accepted as an alias. */
  max_connections?: number;
  ssl?: boolean | string;
  cafile?: string;
  capath?: string;
  cadata?: string;
  certfile?: string;
  keyfile?: string;
  /** With a CA configured: refuse TLS clients without a valid certificate (default false: optional). */
  'require-certificate'?: boolean | string;
  /** Take the verified client certificate's subject CN as the username (mosquitto's use_identity_as_username). */
  'use-identity-as-username'?: boolean | string;
}

export interface AuthConfigInput {
  plugins?: string[];
  'allow-anonymous'?: boolean;
  'password-file'?: string;
}

export interface LimitsConfigInput {
  'max-packet-size'?: number;
  'max-connect-packet-size'?: number;
  'max-connections-per-address'?: number;
  'limit-loopback-connections'?: boolean;
  'connect-timeout'?: number;
  'max-inflight-messages'?: number;
  'max-queued-messages'?: number;
  'queue-qos0-messages'?: boolean;
  'max-subscriptions'?: number;
  'max-topic-length'?: number;
  'max-topic-levels'?: number;
  'max-client-id-length'?: number;
  'max-write-buffer'?: number;
  'max-queued-bytes'?: number;
  'queue-full-policy'?: string;
  'session-expiry'?: number;
  'max-concurrent-auth'?: number;
  'max-pending-auth'?: number;
  'max-pending-auth-per-address'?: number;
  'max-auth-failures-per-address'?: number;
  'auth-failure-window'?: number;
  'auth-limits-exempt-loopback'?: boolean | string;
  'max-publisher-pause'?: number;
  'max-sessions'?: number;
  'max-sessions-per-user'?: number;
  'max-queued-bytes-per-session'?: number;
  'max-filters-per-subscribe'?: number;
  'max-retained-messages'?: number;
  'max-retained-bytes'?: number;
  'max-retained-messages-per-user'?: number;
  'max-retained-bytes-per-user'?: number;
  'shared-subscription-strategy'?: string;
  'max-shared-groups'?: number;
  'max-shared-group-members'?: number;
  'max-auth-steps'?: number;
  'max-reauth-per-minute'?: number;
  'max-keepalive'?: number;
  'max-topic-alias'?: number;
  'max-outbound-topic-aliases'?: number;
}

export interface BrokerConfigInput {
  cluster?: { redis?: string; 'node-id'?: string; prefix?: string; 'lease-ms'?: number; 'node-ttl-ms'?: number };
  listeners?: Record<string, ListenerConfigInput>;
  'timeout-disconnect-delay'?: number;
  auth?: AuthConfigInput;
  'topic-check'?: Record<string, unknown>;
  sys_interval?: number;
  limits?: LimitsConfigInput;
  'response-information'?: string;
  [key: string]: unknown;
}

export interface ListenerConfig {
  readonly name: string;
  readonly type: ListenerType;
  readonly host: string;
  readonly port: number;
  /** 0 = no limit. */
  readonly maxConnections: number;
  readonly ssl: boolean;
  readonly cafile?: string;
  readonly capath?: string;
  readonly cadata?: string;
  readonly certfile?: string;
  readonly keyfile?: string;
  readonly requireCertificate: boolean;
  readonly useIdentityAsUsername: boolean;
}

export interface LimitsConfig {
  /** Largest Remaining Length accepted, bytes; a larger packet closes the connection before its body is read. */
  readonly maxPacketSize: number;
  /**
   * Largest Remaining Length of a connection's first packet (CONNECT), bytes: before login a
   * client may hold only this much of the broker's memory.
   */
  readonly maxConnectPacketSize: number;
  /** Open sockets one peer address may have across all listeners; 0 = no limit. */
  readonly maxConnectionsPerAddress: number;
  /** Apply max-connections-per-address to loopback peers too (default false: local tools and tests are exempt). */
  readonly limitLoopbackConnections: boolean;
  /** Seconds a new connection may take to send CONNECT. */
  readonly connectTimeout: number;
  /** Outbound QoS 1/2 messages awaiting acknowledgement per client; more wait in the session queue. */
  readonly maxInflightMessages: number;
  /** Messages a session may queue (offline, or beyond the in-flight window); see docs for the drop policy. */
  readonly maxQueuedMessages: number;
  /** Queue QoS 0 messages for offline persistent sessions (spec: MAY). */
  readonly queueQos0Messages: boolean;
  readonly maxSubscriptions: number;
  readonly maxTopicLength: number;
  readonly maxTopicLevels: number;
  readonly maxClientIdLength: number;
  /** Bytes buffered for a slow consumer before its QoS 0 messages are dropped. */
  readonly maxWriteBuffer: number;
  /**
   * Payload bytes all session queues together may hold beyond their reserves (the shared budget);
   * beyond it queue-full-policy applies.
   */
  readonly maxQueuedBytes: number;
  /**
   * Payload bytes every session may queue whatever the others hold (its reserve, outside the
   * shared max-queued-bytes): one party filling the shared budget cannot make another lose
   * acknowledged messages. 0 = no reserve.
   */
  readonly maxQueuedBytesPerSession: number;
  /** What a full queue of an offline session (or the global budget) does to a new message. */
  readonly queueFullPolicy: 'drop-new' | 'drop-oldest';
  /** Seconds after which the session of a client that stayed away is removed; 0 = never. */
  readonly sessionExpiry: number;
  /** Password verifications running at once; more wait in a queue (see auth/auth-gate.ts). */
  readonly maxConcurrentAuth: number;
  /** Verifications running and queued, whole broker; beyond it CONNACK 0x03. */
  readonly maxPendingAuth: number;
  /** Verifications running and queued from one address; beyond it CONNACK 0x03; 0 = no limit. */
  readonly maxPendingAuthPerAddress: number;
  /** Failed logins answered to one address within authFailureWindow before it gets 0x05 at once; 0 = no limit. */
  readonly maxAuthFailuresPerAddress: number;
  /** Seconds of the failed-login window. */
  readonly authFailureWindow: number;
  /** Loopback clients are exempt from the per-address authentication limits. */
  readonly authLimitsExemptLoopback: boolean;
  /**
   * Seconds a publisher may be paused in total, by any number of subscribers with full queues or
   * sockets behind, before it is resumed and those subscribers pay instead (0 = never paused).
   */
  readonly maxPublisherPause: number;
  /** Sessions held at once, connected or not (clean ones while connected); 0 = no limit. */
  readonly maxSessions: number;
  /** Sessions per username (anonymous clients are bounded by maxSessions only); 0 = no limit. */
  readonly maxSessionsPerUser: number;
  /** Filters one SUBSCRIBE may carry; the ones beyond get SUBACK 0x80 (MQTT 5: 0x97 Quota exceeded). */
  readonly maxFiltersPerSubscribe: number;
  /** Retained messages the broker stores; a new retained topic beyond it is not stored. */
  readonly maxRetainedMessages: number;
  /** Bytes (payload + topic) of all retained messages together. */
  readonly maxRetainedBytes: number;
  /** Retained messages one username stores (all anonymous clients count as one user). */
  readonly maxRetainedMessagesPerUser: number;
  /** Bytes (payload + topic) of the retained messages one username stores. */
  readonly maxRetainedBytesPerUser: number;
  /** Which member of a `$share/...` group gets a message (docs/shared-subscriptions.md). */
  readonly sharedSubscriptionStrategy: SharedSubscriptionStrategy;
  /** Share groups the broker holds; a SUBSCRIBE creating one beyond it gets SUBACK 0x80. */
  readonly maxSharedGroups: number;
  /** Members of one share group; a SUBSCRIBE joining beyond it gets SUBACK 0x80. */
  readonly maxSharedGroupMembers: number;
  /**
   * MQTT 5 enhanced authentication: plugin steps one exchange (CONNECT or re-authentication) may
   * take; a plugin asking for more is refused 0x87 (the client cannot hold an exchange open).
   */
  readonly maxAuthSteps: number;
  /** MQTT 5 re-authentications (AUTH 0x19) one connection may start per minute; beyond: DISCONNECT 0x96; 0 = no limit. */
  readonly maxReauthPerMinute: number;
  /**
   * Largest Keep Alive (seconds) an MQTT 5 client may have; one asking for more, or for 0 (no
   * check), gets this as Server Keep Alive in CONNACK. 0 = no maximum. 3.1/3.1.1 clients keep theirs.
   */
  readonly maxKeepalive: number;
  /**
   * MQTT 5 Topic Alias Maximum we announce: aliases a client may set on one connection (each maps
   * to a topic within the topic limits); 0 = none (any alias is DISCONNECT 0x94).
   */
  readonly maxTopicAlias: number;
  /** MQTT 5 Topic Aliases we assign per connection to a client that accepts them (at most its own maximum); 0 = none. */
  readonly maxOutboundTopicAliases: number;
}

/** round-robin: members in turn; random: uniform; sticky: a publisher keeps its member while it stays. */
export type SharedSubscriptionStrategy = 'round-robin' | 'random' | 'sticky';

/** Built-in authentication plugins (hbmqtt's names in both spellings map to these). */
export type AuthPluginName = 'auth.anonymous' | 'auth.file' | 'auth.scram';

export interface AuthConfig {
  /** Normalised names, in configured order. */
  readonly plugins: readonly AuthPluginName[];
  readonly allowAnonymous: boolean;
  readonly passwordFile?: string;
  /** Successful verifications remembered by auth.file (0 = none). */
  readonly cacheSize: number;
}

/** Built-in topic-check plugins. */
export type TopicCheckPluginName = 'topic_taboo' | 'topic_acl';

export interface TopicCheckConfig {
  readonly enabled: boolean;
  readonly plugins: readonly TopicCheckPluginName[];
  /** hbmqtt/amqtt: username -> filters the user may subscribe to and receive (publishing is governed by publishAcl). */
  readonly acl?: Readonly<Record<string, readonly string[]>>;
  /** amqtt: username -> topics the user may publish to (without it, publishing is not restricted). */
  readonly publishAcl?: Readonly<Record<string, readonly string[]>>;
  /** A Mosquitto acl_file (user / topic / pattern lines). */
  readonly aclFile?: string;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface AdminConfig {
  readonly enabled: boolean;
  readonly host: string;
  readonly port: number;
  /** Bearer token for the admin API (secret: masked wherever config is shown). */
  readonly token?: string;
  /** Open admin HTTP connections at most; more are closed at accept (0 = no limit). */
  readonly maxConnections: number;
  /** Seconds a client may take to send a request's headers (Node's server.headersTimeout). */
  readonly headersTimeout: number;
  /** Seconds a client may take to send a whole request, body included (server.requestTimeout). */
  readonly requestTimeout: number;
  /** Seconds an idle keep-alive connection stays open between requests (server.keepAliveTimeout). */
  readonly keepAliveTimeout: number;
  /** Live message tracers (dashboard) open at once; a further one gets 429 (0 = tracing off). */
  readonly maxTracers: number;
}

export interface LoggingConfig {
  readonly level: LogLevel;
  /** json: one JSON object a line (production); pretty: human-readable (development). */
  readonly format: 'json' | 'pretty';
}

export interface PersistenceConfig {
  readonly backend: 'memory' | 'sqlite' | 'redis';
  /** SQLite database file (created with its folder when missing). */
  readonly path: string;
  /** SQLite `synchronous` with WAL: normal survives process crashes, full also power loss. */
  readonly synchronous: 'normal' | 'full';
  /** backend redis: redis://host:port[/db] (rediss:// for TLS); a clustered node defaults to cluster.redis. */
  readonly redis?: string | null;
  /** backend redis: key prefix, so several brokers can share one Redis. */
  readonly redisPrefix?: string;
  /** backend redis: WAIT for this many replicas after each write batch before its acknowledgements leave (0: no WAIT). */
  readonly redisWaitReplicas?: number;
  /** backend redis: WAIT timeout in milliseconds; fewer replicas in time fails the batch (no acknowledgement). */
  readonly redisWaitTimeout?: number;
}

/**
 * Several brokers acting as one over Redis (docs/cluster.md). Absent (`cluster` null): a single
 * node, exactly as without it.
 */
export interface ClusterConfig {
  /** Redis URL (`redis://host:6379`, `rediss://` for TLS); turns clustering on. */
  readonly redis: string;
  /** This node's id, unique in the cluster; default: the hostname (the pod name). */
  readonly nodeId: string;
  /** Prefix of every Redis key, so several clusters can share a Redis. */
  readonly prefix: string;
  /** Client id lease (ms): a node that loses Redis drops its clients before this passes; renewed every third. */
  readonly leaseMs: number;
  /** Node heartbeat TTL (ms): a node silent this long is dead; its clients' Wills are published by a survivor. */
  readonly nodeTtlMs: number;
}

export interface ReloadConfig {
  /**
   * Watch the config file, the password and ACL files and the TLS certificates (their folders:
   * Kubernetes swaps a `..data` symlink) and reload when their content changes (the service only).
   */
  readonly watch: boolean;
  /** Seconds of quiet after the last file event before the reload runs. */
  readonly debounce: number;
}

export interface BrokerConfig {
  readonly listeners: readonly ListenerConfig[];
  readonly timeoutDisconnectDelay: number;
  readonly auth: AuthConfig;
  readonly topicCheck: TopicCheckConfig;
  readonly sysInterval: number;
  readonly limits: LimitsConfig;
  /** Admin HTTP (health, metrics, REST API); used by the service, not by the embedded Broker. */
  readonly admin: AdminConfig;
  readonly logging: LoggingConfig;
  readonly persistence: PersistenceConfig;
  /** Seconds a graceful shutdown may take before the process exits anyway (counted after the drain delay). */
  readonly shutdownGracePeriod: number;
  /**
   * Seconds between the start of a shutdown and the drain: readiness answers 503 at once while the
   * listeners keep serving, so that load balancers (Kubernetes Service endpoints) stop sending first.
   */
  readonly shutdownDrainDelay: number;
  /** Reloading users, ACLs and certificates without a restart (SIGHUP, POST /api/v1/reload, file watch). */
  readonly reload: ReloadConfig;
  /**
   * Where each listener comes from, by name, logged at start: `file PATH`, `file PATH +
   * NESTMQ_LISTENERS__X__...`, `environment NESTMQ_LISTENERS__X__...` (a mistyped name adds a
   * listener), `configuration` (an object given to the Broker), or `default`.
   */
  readonly listenerSources: Readonly<Record<string, string>>;
  /** Things accepted for hbmqtt compatibility but worth a look (logged at start). */
  readonly warnings: readonly string[];
  /**
   * MQTT 5 Response Information: a topic prefix; a client that sets Request Response Information
   * gets prefix + its client id in CONNACK. Empty: not offered.
   */
  readonly responseInformation: string;
  /** Clustering over Redis; null: a single node. */
  readonly cluster: ClusterConfig | null;
}
