import type { AuthConfig } from '../config/types';
import { PacketType, type Properties, type QoS, type UserProperty } from '../protocol/packets';
import { isFailure, isReasonCodeAllowed, ReasonCode } from '../protocol/reason-codes';
import type {
  AuthenticateRequest,
  AuthenticateResult,
  Awaitable,
  BrokerPlugin,
  ClientInfo,
  EnhancedAuthRequest,
  EnhancedAuthResult,
  SubscriberInfo,
} from './plugin';

/**
 * Outcome of authentication as the CONNECT handler needs it: a Connect Reason Code (Success, or
 * a failure CONNACK may carry), folded into the 3.1.1 return code when the CONNACK is encoded.
 */
export interface AuthOutcome {
  reasonCode: ReasonCode;
  username: string | null;
  /** MQTT 5, on success: User Properties a plugin adds to the CONNACK. */
  userProperties?: UserProperty[];
  /** MQTT 5 enhanced authentication, on success: the Authentication Method and final Data for the CONNACK. */
  authenticationMethod?: string;
  authenticationData?: Buffer;
}

/** A publish verdict: Success, or the failure (3.1.1: acknowledged and dropped). */
export type PublishVerdict = ReasonCode;
/** A subscribe verdict: the granted QoS (GrantedQoS0..2) or a SUBACK failure code (3.1.1: 0x80). */
export type SubscribeVerdict = ReasonCode;

/** The 3.1.1 return codes plugins answered with before Reason Codes: 4 and 5. */
function fromV3ReturnCode(returnCode: number | undefined): ReasonCode {
  return returnCode === 5 ? ReasonCode.NotAuthorized : ReasonCode.BadUserNameOrPassword;
}

/**
 * A plugin's refusal Reason Code, kept when CONNACK may carry it as a failure; anything else (a
 * success code, a code of another packet) refuses as Not authorized rather than let a plugin's
 * mistake become an invalid CONNACK.
 */
export function connackRefusal(code: number): ReasonCode {
  return isFailure(code) && isReasonCodeAllowed(PacketType.CONNACK, code) ? (code as ReasonCode) : ReasonCode.NotAuthorized;
}

type Hook<F> = F[] | null;

function isThenable<T>(v: Awaitable<T>): v is Promise<T> {
  return typeof v === 'object' && v !== null && typeof (v as Promise<T>).then === 'function';
}

function normaliseAuth(r: AuthenticateResult, req: AuthenticateRequest): AuthOutcome | undefined {
  if (r === undefined) return undefined;
  if (r === true) return { reasonCode: ReasonCode.Success, username: req.username };
  if (r === false) return { reasonCode: ReasonCode.BadUserNameOrPassword, username: req.username };
  if (r.ok) {
    const outcome: AuthOutcome = { reasonCode: ReasonCode.Success, username: r.username ?? req.username };
    if (r.userProperties !== undefined && r.userProperties.length > 0) outcome.userProperties = r.userProperties;
    return outcome;
  }
  const reasonCode = r.reasonCode !== undefined ? connackRefusal(r.reasonCode) : fromV3ReturnCode(r.returnCode);
  return { reasonCode, username: req.username };
}

/** A publish answer: true / undefined-free; a number is a Reason Code (failures deny). */
function publishVerdict(v: boolean | ReasonCode): PublishVerdict {
  if (v === true) return ReasonCode.Success;
  if (v === false) return ReasonCode.NotAuthorized;
  if (!isFailure(v)) return ReasonCode.Success;
  return isReasonCodeAllowed(PacketType.PUBACK, v) ? v : ReasonCode.NotAuthorized;
}

/**
 * Plugins compiled into per-hook arrays once, at start. Each chain runs its plugins in order:
 * the first definite answer wins; a throw or rejection denies and is reported through `onError`.
 * Chains return a plain value when every plugin answered synchronously, a promise otherwise, so
 * the common synchronous case allocates no promise.
 */
export class HookRegistry {
  private readonly authenticators: Hook<BrokerPlugin>;
  /** Every authenticator declares cheapAuthentication (computed once: read on every CONNECT). */
  private readonly cheapAuthentication: boolean;
  private readonly publishAuthorizers: Hook<BrokerPlugin>;
  /** MQTT 5 Authentication Method -> the plugin serving it (the first to declare it); null: none. */
  private readonly enhancedAuthenticators: ReadonlyMap<string, BrokerPlugin> | null;
  private readonly subscribeAuthorizers: Hook<BrokerPlugin>;
  /**
   * The per-delivery read check, or null when no plugin implements authorizeDelivery: the engine
   * tests for null and the no-plugin delivery path costs nothing more.
   */
  readonly deliveryCheck: ((client: SubscriberInfo, topic: string) => boolean) | null;

  constructor(
    plugins: readonly BrokerPlugin[],
    private readonly auth: AuthConfig,
    private readonly onError: (plugin: BrokerPlugin, hook: string, err: unknown) => void,
  ) {
    const pick = (has: (p: BrokerPlugin) => boolean): Hook<BrokerPlugin> => {
      const list = plugins.filter(has);
      return list.length > 0 ? list : null;
    };
    this.authenticators = pick((p) => typeof p.authenticate === 'function');
    this.cheapAuthentication = this.authenticators !== null && this.authenticators.every((p) => p.cheapAuthentication === true);
    this.publishAuthorizers = pick((p) => typeof p.authorizePublish === 'function');
    const methods = new Map<string, BrokerPlugin>();
    for (const p of plugins) {
      if (typeof p.authenticateEnhanced !== 'function') continue;
      for (const m of p.authenticationMethods ?? []) if (!methods.has(m)) methods.set(m, p);
    }
    this.enhancedAuthenticators = methods.size > 0 ? methods : null;
    this.subscribeAuthorizers = pick((p) => typeof p.authorizeSubscribe === 'function');
    const readers = pick((p) => typeof p.authorizeDelivery === 'function');
    this.deliveryCheck = readers === null ? null : (client, topic) => this.runDelivery(readers, client, topic);
  }

  /** Synchronous chain: first definite answer wins, a throw or a non-boolean answer denies. */
  private runDelivery(list: BrokerPlugin[], client: SubscriberInfo, topic: string): boolean {
    for (let i = 0; i < list.length; i++) {
      const plugin = list[i];
      let r: boolean | undefined;
      try {
        r = plugin.authorizeDelivery!(client, topic);
      } catch (err) {
        this.onError(plugin, 'authorizeDelivery', err);
        return false;
      }
      if (r === true || r === false) return r;
      if (r !== undefined) {
        this.onError(plugin, 'authorizeDelivery', new Error('authorizeDelivery must answer true, false or undefined synchronously'));
        return false;
      }
    }
    return true;
  }

  get hasAuthenticators(): boolean {
    return this.authenticators !== null;
  }

  /** Every authenticator declares `cheapAuthentication`: CONNECTs need no AuthGate bounds. */
  get authenticationIsCheap(): boolean {
    return this.cheapAuthentication;
  }

  /** The verdict when no plugin is configured: `allow-anonymous` decides for anonymous clients. */
  withoutPlugins(username: string | null): AuthOutcome {
    return this.fallback({ clientId: '', username, remoteAddress: '', listener: '', password: null });
  }

  /** The plugin serving an MQTT 5 Authentication Method, or null (CONNACK 0x8C). */
  enhancedAuthenticator(method: string): BrokerPlugin | null {
    return this.enhancedAuthenticators?.get(method) ?? null;
  }

  /** One step of an enhanced authentication exchange; a throw or rejection refuses (0x87), reported. */
  authenticateEnhanced(plugin: BrokerPlugin, req: EnhancedAuthRequest): Awaitable<EnhancedAuthResult> {
    const refused: EnhancedAuthResult = { success: false, reasonCode: ReasonCode.NotAuthorized };
    let r: Awaitable<EnhancedAuthResult>;
    try {
      r = plugin.authenticateEnhanced!(req);
    } catch (err) {
      this.onError(plugin, 'authenticateEnhanced', err);
      return refused;
    }
    if (!isThenable(r)) return r;
    return r.then(
      (v) => v,
      (err) => {
        this.onError(plugin, 'authenticateEnhanced', err);
        return refused;
      },
    );
  }

  get hasPublishAuthorizers(): boolean {
    return this.publishAuthorizers !== null;
  }

  get hasSubscribeAuthorizers(): boolean {
    return this.subscribeAuthorizers !== null;
  }

  /** When no plugin decides: anonymous clients follow `allow-anonymous`, others are refused. */
  private fallback(req: AuthenticateRequest): AuthOutcome {
    if (req.username === null && this.auth.allowAnonymous) return { reasonCode: ReasonCode.Success, username: null };
    if (this.authenticators === null && this.auth.allowAnonymous) return { reasonCode: ReasonCode.Success, username: req.username };
    return { reasonCode: req.username === null ? ReasonCode.NotAuthorized : ReasonCode.BadUserNameOrPassword, username: req.username };
  }

  authenticate(req: AuthenticateRequest): Awaitable<AuthOutcome> {
    const list = this.authenticators;
    if (list === null) return this.fallback(req);
    return this.runAuth(list, 0, req);
  }

  private runAuth(list: BrokerPlugin[], from: number, req: AuthenticateRequest): Awaitable<AuthOutcome> {
    for (let i = from; i < list.length; i++) {
      const plugin = list[i];
      let r: Awaitable<AuthenticateResult>;
      try {
        r = plugin.authenticate!(req);
      } catch (err) {
        this.onError(plugin, 'authenticate', err);
        return { reasonCode: ReasonCode.NotAuthorized, username: req.username };
      }
      if (isThenable(r)) {
        return r.then(
          (v) => normaliseAuth(v, req) ?? this.runAuth(list, i + 1, req),
          (err) => {
            this.onError(plugin, 'authenticate', err);
            return { reasonCode: ReasonCode.NotAuthorized, username: req.username };
          },
        );
      }
      const outcome = normaliseAuth(r, req);
      if (outcome !== undefined) return outcome;
    }
    return this.fallback(req);
  }

  /** Success, or the Reason Code of the refusal (a throw or rejection: 0x80 Unspecified error). */
  authorizePublish(client: ClientInfo, topic: string, qos: QoS, retain: boolean, properties?: Readonly<Properties>): Awaitable<PublishVerdict> {
    const list = this.publishAuthorizers;
    if (list === null) return ReasonCode.Success;
    return this.runPublish(list, 0, client, topic, qos, retain, properties);
  }

  private runPublish(
    list: BrokerPlugin[],
    from: number,
    client: ClientInfo,
    topic: string,
    qos: QoS,
    retain: boolean,
    properties: Readonly<Properties> | undefined,
  ): Awaitable<PublishVerdict> {
    for (let i = from; i < list.length; i++) {
      const plugin = list[i];
      let r: Awaitable<boolean | ReasonCode | undefined>;
      try {
        r = plugin.authorizePublish!(client, topic, qos, retain, properties);
      } catch (err) {
        this.onError(plugin, 'authorizePublish', err);
        return ReasonCode.UnspecifiedError;
      }
      if (isThenable(r)) {
        return r.then(
          (v) => (v === undefined ? this.runPublish(list, i + 1, client, topic, qos, retain, properties) : publishVerdict(v)),
          (err) => {
            this.onError(plugin, 'authorizePublish', err);
            return ReasonCode.UnspecifiedError;
          },
        );
      }
      if (r !== undefined) return publishVerdict(r);
    }
    return ReasonCode.Success;
  }

  /**
   * The granted QoS as GrantedQoS0..2 (a plugin may lower it), or a SUBACK failure Reason Code
   * (false: 0x87 Not authorized; a throw or rejection: 0x80), which 3.1.1 sends as 0x80.
   */
  authorizeSubscribe(client: ClientInfo, filter: string, qos: QoS): Awaitable<SubscribeVerdict> {
    const list = this.subscribeAuthorizers;
    if (list === null) return qos as number as ReasonCode;
    return this.runSubscribe(list, 0, client, filter, qos);
  }

  private runSubscribe(list: BrokerPlugin[], from: number, client: ClientInfo, filter: string, qos: QoS): Awaitable<SubscribeVerdict> {
    // A number below 0x80 is a QoS (GrantedQoS0..2 are 0..2), never above the one asked for.
    const decide = (v: boolean | QoS | ReasonCode | undefined): SubscribeVerdict | undefined =>
      v === undefined
        ? undefined
        : v === true
          ? (qos as number as ReasonCode)
          : v === false
            ? ReasonCode.NotAuthorized
            : isFailure(v)
              ? isReasonCodeAllowed(PacketType.SUBACK, v) ? v : ReasonCode.NotAuthorized
              : (Math.min(v, qos) as number as ReasonCode);
    for (let i = from; i < list.length; i++) {
      const plugin = list[i];
      let r: Awaitable<boolean | QoS | ReasonCode | undefined>;
      try {
        r = plugin.authorizeSubscribe!(client, filter, qos);
      } catch (err) {
        this.onError(plugin, 'authorizeSubscribe', err);
        return ReasonCode.UnspecifiedError;
      }
      if (isThenable(r)) {
        return r.then(
          (v) => decide(v) ?? this.runSubscribe(list, i + 1, client, filter, qos),
          (err) => {
            this.onError(plugin, 'authorizeSubscribe', err);
            return ReasonCode.UnspecifiedError;
          },
        );
      }
      const d = decide(r);
      if (d !== undefined) return d;
    }
    return qos as number as ReasonCode;
  }
}

export { isThenable };
