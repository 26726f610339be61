/**
 * What the engine may ask of a client connection (ClientLink), and the states and pause reasons
 * they share. Connection implements it; the engine's units (engine/*) see connections only
 * through it, so neither imports the other's implementation. An MQTT 5 connection is the same
 * link with protocolLevel 5.
 */
import type { AuthSlot } from '../auth/auth-gate';
import type { WillMessage } from '../protocol/packets';
import type { CloseReason } from '../protocol/reason-codes';
import type { Session } from '../sessions/session';
import type { Transport } from './transport';

export enum ConnectionState {
  /** Socket open, waiting for CONNECT [MQTT-3.1.0-1]. */
  AWAIT_CONNECT = 0,
  /** CONNECT received, authentication running; nothing else is processed [MQTT-3.1.4-5]. */
  AUTHENTICATING = 1,
  CONNECTED = 2,
  /** Closed: no further packet is acted on, nothing more is sent but what was queued. */
  CLOSED = 3,
}

/** Reasons reading is paused; reading resumes when none is left. */
export const enum Pause {
  /** CONNECT authentication is running (plugins, the AuthGate queue) [MQTT-3.1.4-5]. */
  AUTH = 1,
  /** A subscriber this client published to has a full queue (TCP backpressure to the publisher). */
  THROTTLE = 2,
  /** Our writes to this client are not draining (it does not read its acks). */
  WRITE = 4,
  /** A plugin's verdict on a PUBLISH or SUBSCRIBE is pending: later packets wait [MQTT-4.6.0-2/3]. */
  PLUGIN = 8,
  /** CONNECT waits for the session store to load the client's session (SessionStore.load). */
  SESSION = 16,
  /** Every reason (isPaused(Pause.ANY): is reading paused at all). */
  ANY = 31,
}

/**
 * What an MQTT 5 client asked for in its CONNECT and what the broker granted in its CONNACK: the
 * limits the engine must honour when it sends to this client, and the inbound limits it enforces.
 * Null on 3.1/3.1.1 connections (they have none of these).
 */
export interface ClientV5Settings {
  /** The client's Receive Maximum: QoS 1/2 deliveries in flight to it at most (v5 [MQTT-3.3.4-7]). */
  receiveMaximum: number;
  /** The client's Maximum Packet Size (0: none given, the protocol's limit): larger packets are not sent (v5 [MQTT-3.1.2-25]). */
  maximumPacketSize: number;
  /** The client's Topic Alias Maximum: outbound aliases allowed (0: none). */
  topicAliasMaximum: number;
  /** Request Problem Information (false: no Reason String / User Properties except on PUBLISH, CONNACK, DISCONNECT). */
  requestProblemInformation: boolean;
  /** Request Response Information. */
  requestResponseInformation: boolean;
  /** Our Receive Maximum for its QoS 1/2 publishes (DISCONNECT 0x93 beyond it). */
  serverReceiveMaximum: number;
  /** Our Topic Alias Maximum for its publishes (DISCONNECT 0x94 beyond it). */
  serverTopicAliasMaximum: number;
  /** CONNECT's Clean Start: discard an existing session (v5 [MQTT-3.1.2-4]); keeping it is Session Expiry's business. */
  cleanStart: boolean;
  /**
   * The Session Expiry Interval in force (seconds; CONNECT's, capped by limits.session-expiry,
   * possibly changed by DISCONNECT): 0 ends the session with the connection v5 [MQTT-3.1.2-23].
   */
  sessionExpiryInterval: number;
  /** CONNECT's Session Expiry Interval as asked (CONNACK tells the granted one when it differs). */
  requestedSessionExpiryInterval: number;
  /** Inbound topic aliases: alias -> topic, created on first use. */
  inboundAliases: Map<number, string> | null;
  /** Outbound topic aliases state, owned by the delivery unit (opaque here). */
  outboundAliases: object | null;
  /** Its QoS 1/2 PUBLISHes not yet acknowledged by us on this connection (engine/v5-flow.ts). */
  inboundUnacked: number;
  /** The QoS 2 ids among them (until PUBCOMP is sent); null while none. */
  inboundQos2: Set<number> | null;
  /** In-flight deliveries of its session not re-sent at the resume (beyond its Receive Maximum) are waiting. */
  deferredResends: boolean;
}

export interface ClientLink {
  readonly id: number;
  /** MQTT 5 settings of this connection; null for 3.1/3.1.1. */
  v5: ClientV5Settings | null;
  state: ConnectionState;
  clientId: string;
  username: string | null;
  /** CONNECT's protocol level: 3 (MQTT 3.1), 4 (3.1.1), 5 once MQTT 5 is accepted; 0 before CONNECT. */
  protocolLevel: number;
  keepalive: number;
  cleanSession: boolean;
  connectedAt: number;
  session: Session | null;
  will: WillMessage | null;
  /** Why it closed ('' while open): the clientDisconnected event's reason. */
  readonly closeReason: CloseReason | '';
  /** Cluster: the fencing token of this connection's client id lease (ClusterClientRegistry); null on a single node. */
  clusterToken: string | null;
  readonly listener: string;
  /** `host:port` of the peer. */
  readonly remoteAddress: string;
  /** Peer address without port (the unit of per-address limits). */
  readonly peerHost: string;
  /** The listener that accepted it (told when it closes). */
  readonly owner: unknown;
  readonly transport: Transport;
  /** Where this connection stands in the engine's AuthGate. */
  authSlot: AuthSlot;
  /** The CONNECT's password while its verification waits in the AuthGate queue. */
  authPassword: Buffer | null;
  /** The AuthGate's turn for a CONNECT whose verification waited in its queue. */
  startQueuedAuthentication(): void;

  /**
   * Per-connection state of engine units, opaque to the connection and created lazily by the unit
   * that owns it: `flow` by engine/backpressure.ts (null for a connection that never took part in
   * backpressure), `retainedJobs` by engine/retained-delivery.ts (null when none are pending).
   */
  flow: object | null;
  retainedJobs: object | null;
  /**
   * Set on a cluster's stand-in for another node's publishers (cluster/cluster-flow.ts): paused
   * only for a subscriber's full queue, never for its socket behind. Absent on a connection.
   */
  readonly remoteNode?: string;

  readonly isOpen: boolean;
  /** Bytes queued for this client and not yet taken by the kernel. */
  readonly bufferedBytes: number;
  /** Queue bytes, written after the group commit (see CommitGate). */
  send(data: Buffer): void;
  /** Queue a QoS 0/1 delivery that may leave before the group commit. */
  sendEarly(data: Buffer): void;
  /** True while registered with the host's output batch for this turn (flush pending). */
  readonly flushPending: boolean;
  /** Write what may leave before the commit; true when output waits for the commit. */
  flushEarly(): boolean;
  /** Write everything queued (after the commit). */
  flush(): void;
  /** Close after writing what is queued; a v5 client's DISCONNECT carries `reasonCode` when given (else the reason's). */
  close(reason: CloseReason, reasonCode?: number): void;
  /** Close without writing what is queued. */
  abort(reason: CloseReason): void;
  pause(reason: Pause): void;
  resume(reason: Pause): void;
  isPaused(reason: Pause): boolean;
}
