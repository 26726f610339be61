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
}

export interface AuthConfigInput {
  plugins?: string[];
  'allow-anonymous'?: boolean;
  'password-file'?: string;
}

export interface LimitsConfigInput {
  'max-packet-size'?: number;
  'connect-timeout'?: number;
  'max-inflight-messages'?: number;
  'max-queued-messages'?: number;
  'queue-qos0-messages'?: boolean;
  'max-subscriptions'?: number;
  'max-topic-length'?: number;
  'max-topic-levels'?: number;
  'max-client-id-length'?: number;
  'max-write-buffer'?: number;
}

export interface BrokerConfigInput {
  listeners?: Record<string, ListenerConfigInput>;
  'timeout-disconnect-delay'?: number;
  auth?: AuthConfigInput;
  'topic-check'?: Record<string, unknown>;
  sys_interval?: number;
  limits?: LimitsConfigInput;
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
}

export interface LimitsConfig {
  /** Largest Remaining Length accepted, bytes; a larger packet closes the connection before its body is read. */
  readonly maxPacketSize: number;
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
}

export interface AuthConfig {
  readonly plugins: readonly string[];
  readonly allowAnonymous: boolean;
  readonly passwordFile?: string;
}

export interface BrokerConfig {
  readonly listeners: readonly ListenerConfig[];
  readonly timeoutDisconnectDelay: number;
  readonly auth: AuthConfig;
  readonly topicCheck: Readonly<Record<string, unknown>>;
  readonly sysInterval: number;
  readonly limits: LimitsConfig;
}
