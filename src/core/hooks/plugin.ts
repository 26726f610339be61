/**
 * The typed plugin API. A plugin implements any subset of the optional methods; the registry
 * compiles the implemented ones into per-hook arrays once at start, and the packet path checks
 * for `null` (no plugin implements the hook) before doing anything [STYLE 6].
 *
 * Results may be plain values or promises. A throwing or rejecting plugin denies and is logged;
 * it never crashes the broker.
 */
import type { Properties, QoS, UserProperty } from '../protocol/packets';
import type { ReasonCode } from '../protocol/reason-codes';
import type { BrokerEvents } from './events';
import type { ClientInfo, SubscriberInfo } from './types';

export type { ClientInfo, SubscriberInfo } from './types';


export interface AuthenticateRequest extends ClientInfo {
  readonly password: Buffer | null;
  /** TLS client certificate subject CN, when one was presented and verified. */
  readonly certificateCommonName?: string;
  /** MQTT 5: the CONNECT's properties (User Properties, Session Expiry, ...); undefined for 3.1/3.1.1. */
  readonly properties?: Readonly<Properties>;
  /** The CONNECT's protocol level: 3, 4 or 5. */
  readonly protocolLevel?: number;
}

/**
 * - `true` / `{ ok: true }`: accept (the username may be replaced, e.g. from a certificate).
 * - `false` / `{ ok: false }`: refuse as bad user name or password (CONNACK 0x86; 3.1.1: 4).
 * - `{ ok: false, returnCode: 4 | 5 }`: the 3.1.1 return code, taken as 0x86 Bad user name or
 *   password / 0x87 Not authorized.
 * - `{ ok: false, reasonCode }`: any failure Reason Code CONNACK may carry (0x86, 0x87,
 *   0x88 Server unavailable, 0x89 Server busy, 0x8A Banned, ...). A 3.1.1 client gets the return
 *   code it folds into (toV3ConnackReturnCode: 0x88 and 0x89 -> 3, 0x8A -> 5), or no CONNACK for a
 *   code that reports a fault in the CONNECT itself (0x81, 0x82, 0x90, 0x95, 0x99-0x9B). Any
 *   other value refuses as 0x87. `reasonCode` wins over `returnCode` when both are given.
 * - `undefined`: no opinion, ask the next plugin.
 */
export type AuthenticateResult =
  | boolean
  | undefined
  | { ok: true; username?: string; userProperties?: UserProperty[] }
  | { ok: false; returnCode?: 4 | 5; reasonCode?: ReasonCode; reason?: string };
// `userProperties` on success: MQTT 5 User Properties added to the CONNACK (3.1/3.1.1: ignored).

/**
 * One step of an MQTT 5 enhanced authentication exchange (sections 3.15 and 4.12): the client's
 * Authentication Data from CONNECT (step 1), from AUTH 0x19 Re-authenticate (step 1 of a
 * re-authentication) or from AUTH 0x18 Continue authentication (later steps).
 */
export interface EnhancedAuthRequest extends ClientInfo {
  /** The Authentication Method, one of the plugin's `authenticationMethods`. */
  readonly method: string;
  /** The Authentication Data the client sent with this step (null: none). */
  readonly data: Buffer | null;
  /** 1 for the first step of an exchange, then 2, 3, ... (at most limits.max-auth-steps). */
  readonly step: number;
  /** False during CONNECT; true for a re-authentication of a connected client. */
  readonly reauthentication: boolean;
  /** The CONNECT's User Name and Password (a method may use them or not). */
  readonly password: Buffer | null;
  /** Properties of the packet that carried this step (CONNECT, or AUTH). */
  readonly properties: Readonly<Properties>;
  /**
   * The plugin's own state between the steps of one exchange (for SCRAM: its ScramServer):
   * undefined at step 1; whatever the plugin puts here it finds again at the next step. Dropped
   * when the exchange ends.
   */
  state: unknown;
}

/**
 * - `{ continue: data }`: the server's challenge, sent as AUTH 0x18 Continue authentication; the
 *   client answers with AUTH 0x18 (the next step).
 * - `{ success: true, data?, username?, userProperties? }`: authenticated. During CONNECT: CONNACK
 *   0x00 with the method, `data` (final server message) and `userProperties`; the username may be
 *   replaced (e.g. by the one the mechanism proved). Re-authentication: AUTH 0x00 with the method
 *   and `data`; a `username` other than the connection's refuses (a connection keeps its user).
 * - `{ success: false, reasonCode?, reason? }`: refused: CONNACK (CONNECT) or DISCONNECT
 *   (re-authentication) with `reasonCode` when that packet may carry it as a failure, else 0x87
 *   Not authorized (the default).
 */
export type EnhancedAuthResult =
  | { continue: Buffer }
  | { success: true; data?: Buffer; username?: string; userProperties?: UserProperty[] }
  | { success: false; reasonCode?: ReasonCode; reason?: string };

export type Awaitable<T> = T | Promise<T>;

/** Handlers for the broker events (hbmqtt's `on_broker_*` plugin methods), by event name. */
export type BrokerEventHandlers = { [K in keyof BrokerEvents]?: (...args: BrokerEvents[K]) => void | Promise<void> };

export interface BrokerPlugin {
  readonly name?: string;
  /**
   * `authenticate` answers synchronously and does no costly work (no password hash, no I/O), as
   * auth.anonymous: when every authenticator says so, CONNECTs skip the AuthGate's bounds on
   * pending verifications (limits.max-pending-auth*), which exist for costly ones.
   */
  readonly cheapAuthentication?: boolean;
  authenticate?(request: AuthenticateRequest): Awaitable<AuthenticateResult>;
  /**
   * MQTT 5 Authentication Methods this plugin serves (e.g. `['SCRAM-SHA-256']`), with
   * `authenticateEnhanced`. A CONNECT naming a method no plugin serves gets CONNACK 0x8C Bad
   * authentication method; the first plugin to declare a method serves it. The plain
   * `authenticate` chain is not asked about a CONNECT with a method.
   */
  readonly authenticationMethods?: readonly string[];
  /** One step of an exchange (see EnhancedAuthRequest); a throw or rejection refuses with 0x87. */
  authenticateEnhanced?(request: EnhancedAuthRequest): Awaitable<EnhancedAuthResult>;
  /**
   * true (or ReasonCode.Success) allows; false (0x87 Not authorized) or a failure Reason Code
   * a PUBACK may carry (0x87, 0x97 Quota exceeded, 0x80, ...) denies: the message is acknowledged
   * per its QoS and dropped (3.1.1 has no negative ack); undefined is no opinion. `properties`:
   * an MQTT 5 PUBLISH's properties (User Properties, Content Type, ...), undefined otherwise.
   */
  authorizePublish?(client: ClientInfo, topic: string, qos: QoS, retain: boolean, properties?: Readonly<Properties>): Awaitable<boolean | ReasonCode | undefined>;
  /**
   * Returns the QoS to grant (may be lower; GrantedQoS0..2 are the same numbers), true for the
   * QoS asked, false (0x87) or a failure Reason Code a SUBACK may carry (0x87, 0x97 Quota
   * exceeded, ...) to refuse (3.1.1: SUBACK 0x80), or undefined for no opinion.
   */
  authorizeSubscribe?(client: ClientInfo, filter: string, qos: QoS): Awaitable<boolean | QoS | ReasonCode | undefined>;
  /**
   * Per delivery: may this subscriber read a message on `topic`? Synchronous only (it runs for
   * every message to every matching subscriber, also for retained messages and when a queued
   * message is sent): false drops the message for this subscriber only, undefined is no opinion.
   * This is how a wildcard subscription receives only what its subscriber may read.
   */
  authorizeDelivery?(client: SubscriberInfo, topic: string): boolean | undefined;
  /** Re-read whatever the plugin loads from files (Broker.reloadAuth, SIGHUP); reject to keep the old state. */
  reload?(): Awaitable<void>;
  /**
   * Broker events delivered to the plugin (hbmqtt's event set: starting, started, stopping,
   * stopped, clientConnected, clientDisconnected, clientSubscribed, clientUnsubscribed,
   * messageReceived, warning). A handler that throws or rejects is reported as a `warning`.
   */
  readonly events?: BrokerEventHandlers;
}
