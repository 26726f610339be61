/**
 * The typed plugin API. A plugin implements any subset of the optional methods; the registry
 * compiles the implemented ones into per-hook arrays once at start, and the packet path checks
 * for `null` (no plugin implements the hook) before doing anything [STYLE 6].
 *
 * Results may be plain values or promises. A throwing or rejecting plugin denies and is logged;
 * it never crashes the broker.
 */
import type { QoS } from '../protocol/packets';

export interface ClientInfo {
  readonly clientId: string;
  readonly username: string | null;
  readonly remoteAddress: string;
  readonly listener: string;
}

export interface AuthenticateRequest extends ClientInfo {
  readonly password: Buffer | null;
  /** TLS client certificate subject CN, when one was presented and verified. */
  readonly certificateCommonName?: string;
}

/**
 * - `true` / `{ ok: true }`: accept (the username may be replaced, e.g. from a certificate).
 * - `false` / `{ ok: false, returnCode }`: refuse with CONNACK 4 (bad credentials) or 5 (not authorized).
 * - `undefined`: no opinion, ask the next plugin.
 */
export type AuthenticateResult =
  | boolean
  | undefined
  | { ok: true; username?: string }
  | { ok: false; returnCode?: 4 | 5; reason?: string };

export type Awaitable<T> = T | Promise<T>;

export interface BrokerPlugin {
  readonly name?: string;
  authenticate?(request: AuthenticateRequest): Awaitable<AuthenticateResult>;
  /** false denies: the message is acknowledged per its QoS and dropped (3.1.1 has no negative ack). */
  authorizePublish?(client: ClientInfo, topic: string, qos: QoS, retain: boolean): Awaitable<boolean | undefined>;
  /** Returns the QoS to grant (may be lower), false to refuse (SUBACK 0x80), or undefined for no opinion. */
  authorizeSubscribe?(client: ClientInfo, filter: string, qos: QoS): Awaitable<boolean | QoS | undefined>;
}
