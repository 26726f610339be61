import type { AuthConfig } from '../config/types';
import type { QoS } from '../protocol/packets';
import type { AuthenticateRequest, AuthenticateResult, Awaitable, BrokerPlugin, ClientInfo, SubscriberInfo } from './plugin';

/** Outcome of authentication as the CONNECT handler needs it. */
export interface AuthOutcome {
  returnCode: 0 | 4 | 5;
  username: string | null;
}

type Hook<F> = F[] | null;

function isThenable<T>(v: Awaitable<T>): v is Promise<T> {
  return typeof v === 'object' && v !== null && typeof (v as Promise<T>).then === 'function';
}

function normaliseAuth(r: AuthenticateResult, req: AuthenticateRequest): AuthOutcome | undefined {
  if (r === undefined) return undefined;
  if (r === true) return { returnCode: 0, username: req.username };
  if (r === false) return { returnCode: 4, username: req.username };
  if (r.ok) return { returnCode: 0, username: r.username ?? req.username };
  return { returnCode: r.returnCode ?? 4, username: req.username };
}

/**
 * Plugins compiled into per-hook arrays once, at start. Each chain runs its plugins in order:
 * the first definite answer wins; a throw or rejection denies and is reported through `onError`.
 * Chains return a plain value when every plugin answered synchronously, a promise otherwise, so
 * the common synchronous case allocates no promise.
 */
export class HookRegistry {
  private readonly authenticators: Hook<BrokerPlugin>;
  private readonly publishAuthorizers: Hook<BrokerPlugin>;
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
    this.publishAuthorizers = pick((p) => typeof p.authorizePublish === 'function');
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

  /** The verdict when no plugin is configured: `allow-anonymous` decides for anonymous clients. */
  withoutPlugins(username: string | null): AuthOutcome {
    return this.fallback({ clientId: '', username, remoteAddress: '', listener: '', password: null });
  }

  get hasPublishAuthorizers(): boolean {
    return this.publishAuthorizers !== null;
  }

  get hasSubscribeAuthorizers(): boolean {
    return this.subscribeAuthorizers !== null;
  }

  /** When no plugin decides: anonymous clients follow `allow-anonymous`, others are refused. */
  private fallback(req: AuthenticateRequest): AuthOutcome {
    if (req.username === null && this.auth.allowAnonymous) return { returnCode: 0, username: null };
    if (this.authenticators === null && this.auth.allowAnonymous) return { returnCode: 0, username: req.username };
    return { returnCode: req.username === null ? 5 : 4, username: req.username };
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
        return { returnCode: 5, username: req.username };
      }
      if (isThenable(r)) {
        return r.then(
          (v) => normaliseAuth(v, req) ?? this.runAuth(list, i + 1, req),
          (err) => {
            this.onError(plugin, 'authenticate', err);
            return { returnCode: 5 as const, username: req.username };
          },
        );
      }
      const outcome = normaliseAuth(r, req);
      if (outcome !== undefined) return outcome;
    }
    return this.fallback(req);
  }

  authorizePublish(client: ClientInfo, topic: string, qos: QoS, retain: boolean): Awaitable<boolean> {
    const list = this.publishAuthorizers;
    if (list === null) return true;
    return this.runPublish(list, 0, client, topic, qos, retain);
  }

  private runPublish(list: BrokerPlugin[], from: number, client: ClientInfo, topic: string, qos: QoS, retain: boolean): Awaitable<boolean> {
    for (let i = from; i < list.length; i++) {
      const plugin = list[i];
      let r: Awaitable<boolean | undefined>;
      try {
        r = plugin.authorizePublish!(client, topic, qos, retain);
      } catch (err) {
        this.onError(plugin, 'authorizePublish', err);
        return false;
      }
      if (isThenable(r)) {
        return r.then(
          (v) => (v === undefined ? this.runPublish(list, i + 1, client, topic, qos, retain) : v),
          (err) => {
            this.onError(plugin, 'authorizePublish', err);
            return false;
          },
        );
      }
      if (r !== undefined) return r;
    }
    return true;
  }

  /** Granted QoS, or false for refusal (SUBACK 0x80). */
  authorizeSubscribe(client: ClientInfo, filter: string, qos: QoS): Awaitable<QoS | false> {
    const list = this.subscribeAuthorizers;
    if (list === null) return qos;
    return this.runSubscribe(list, 0, client, filter, qos);
  }

  private runSubscribe(list: BrokerPlugin[], from: number, client: ClientInfo, filter: string, qos: QoS): Awaitable<QoS | false> {
    const decide = (v: boolean | QoS | undefined): QoS | false | undefined =>
      v === undefined ? undefined : v === true ? qos : v === false ? false : (Math.min(v, qos) as QoS);
    for (let i = from; i < list.length; i++) {
      const plugin = list[i];
      let r: Awaitable<boolean | QoS | undefined>;
      try {
        r = plugin.authorizeSubscribe!(client, filter, qos);
      } catch (err) {
        this.onError(plugin, 'authorizeSubscribe', err);
        return false;
      }
      if (isThenable(r)) {
        return r.then(
          (v) => decide(v) ?? this.runSubscribe(list, i + 1, client, filter, qos),
          (err) => {
            this.onError(plugin, 'authorizeSubscribe', err);
            return false as const;
          },
        );
      }
      const d = decide(r);
      if (d !== undefined) return d;
    }
    return qos;
  }
}

export { isThenable };
