/**
 * hbmqtt's and amqtt's topic-check plugins, `topic_taboo` and `topic_acl`.
 *
 * Like every built-in authorizer they answer false (deny) or undefined (no objection), never
 * true: with the registry's "first definite answer wins" this gives hbmqtt's rule that every
 * topic plugin is asked and any one of them can refuse. Each also implements authorizeDelivery,
 * so a wildcard subscription receives only the topics its subscriber may read.
 */
import type { BrokerPlugin, ClientInfo, SubscriberInfo } from '../hooks/plugin';
import { describeClient, silentLogger, type AuthLogger } from './log';
import { covers, levels, matches, overlaps, type Levels } from './topic-match';

/** hbmqtt's taboo list. */
export const DEFAULT_TABOO_TOPICS: readonly string[] = ['prohibited', 'top-secret', 'data/classified'];

export interface TopicTabooOptions {
  /** Topics (exact names) nobody but the exempt users may publish, subscribe to or receive. */
  topics?: readonly string[];
  /** Usernames exempt from the taboo; hbmqtt: `admin`. */
  exempt?: readonly string[];
  logger?: AuthLogger;
}

/**
 * hbmqtt's TopicTabooPlugin: `prohibited`, `top-secret` and `data/classified` are for user
 * `admin` only. hbmqtt checks subscriptions (the filter must not be one of them); amqtt also
 * publishes; nestmq checks both and deliveries, so `#` does not leak them either.
 */
export class TopicTabooPlugin implements BrokerPlugin {
  readonly name = 'topic_taboo';
  private readonly taboo: ReadonlySet<string>;
  private readonly exempt: ReadonlySet<string>;
  private readonly log: AuthLogger;

  constructor(options: TopicTabooOptions = {}) {
    this.taboo = new Set(options.topics ?? DEFAULT_TABOO_TOPICS);
    this.exempt = new Set(options.exempt ?? ['admin']);
    this.log = options.logger ?? silentLogger;
  }

  private allowed(client: SubscriberInfo, topic: string): boolean {
    return !this.taboo.has(topic) || (client.username !== null && this.exempt.has(client.username));
  }

  authorizePublish(client: ClientInfo, topic: string): false | undefined {
    if (this.allowed(client, topic)) return undefined;
    this.log.warn(`topic_taboo: publish to ${JSON.stringify(topic)} denied for ${describeClient(client)}`);
    return false;
  }

  authorizeSubscribe(client: ClientInfo, filter: string): false | undefined {
    if (this.allowed(client, filter)) return undefined;
    this.log.warn(`topic_taboo: subscription to ${JSON.stringify(filter)} refused for ${describeClient(client)}`);
    return false;
  }

  authorizeDelivery(client: SubscriberInfo, topic: string): false | undefined {
    return this.allowed(client, topic) ? undefined : false;
  }
}

export interface TopicAclOptions {
  /** username -> filters the user may subscribe to (and so read); `anonymous` for clients without username. */
  acl?: Readonly<Record<string, readonly string[]>>;
  /** username -> topics the user may publish to (filters allowed). */
  publishAcl?: Readonly<Record<string, readonly string[]>>;
  logger?: AuthLogger;
}

/** The username hbmqtt and amqtt look up for clients that sent none. */
export const ANONYMOUS_ACL_USER = 'anonymous';

function compile(map: Readonly<Record<string, readonly string[]>> | undefined): Map<string, Levels[]> | null {
  if (map === undefined) return null;
  const out = new Map<string, Levels[]>();
  // Own keys only (a user called "constructor" must not find Object.prototype's).
  for (const user of Object.keys(map)) out.set(user, map[user].map(levels));
  return out;
}

function rulesKey(acl: TopicAclOptions['acl'], publishAcl: TopicAclOptions['publishAcl']): string {
  return JSON.stringify([acl ?? null, publishAcl ?? null]);
}

/**
 * hbmqtt's / amqtt's TopicAccessControlListPlugin, from `topic-check.acl` (who may subscribe
 * to, and so read, what) and amqtt's `topic-check.publish-acl` (who may publish where):
 *
 * - Subscribe: refused (0x80) unless the filter can match a topic one of the user's `acl`
 *   entries allows. A broader wildcard (`#` for a user allowed `home/alice/#`) is granted, and
 *   its deliveries are filtered to what the user may read.
 * - Delivery: only topics matching one of the user's `acl` entries.
 * - Publish: with `publish-acl`, only topics matching one of the user's entries; without it,
 *   publishing is not restricted by this plugin (amqtt's backward-compatible reading).
 * - A user not in a list (or with an empty list) gets nothing from that list. Clients without
 *   a username are looked up as `anonymous`. Without `acl` at all, reading is not restricted.
 */
export class TopicAclPlugin implements BrokerPlugin {
  readonly name = 'topic_acl';
  private read: Map<string, Levels[]> | null;
  private write: Map<string, Levels[]> | null;
  /** The tables as given, to tell whether replaceRules() changes anything. */
  private rulesKey: string;
  private readonly log: AuthLogger;
  private lastTopic = '';
  private lastLevels: Levels = [''];

  constructor(options: TopicAclOptions) {
    this.read = compile(options.acl);
    this.write = compile(options.publishAcl);
    this.rulesKey = rulesKey(options.acl, options.publishAcl);
    this.log = options.logger ?? silentLogger;
  }

  /**
   * New tables (a reload of the config file's inline `topic-check.acl` / `publish-acl`): they
   * apply to every publish, subscription and delivery from now on, existing subscriptions
   * included. Returns false, changing nothing, when they equal the current ones.
   */
  replaceRules(acl: TopicAclOptions['acl'], publishAcl: TopicAclOptions['publishAcl']): boolean {
    const key = rulesKey(acl, publishAcl);
    if (key === this.rulesKey) return false;
    this.read = compile(acl);
    this.write = compile(publishAcl);
    this.rulesKey = key;
    this.lastTopic = '';
    this.lastLevels = [''];
    return true;
  }

  private split(topic: string): Levels {
    // Deliveries of one message to many subscribers ask about the same topic in a row.
    if (topic !== this.lastTopic) {
      this.lastLevels = levels(topic);
      this.lastTopic = topic;
    }
    return this.lastLevels;
  }

  private static rules(map: Map<string, Levels[]>, client: SubscriberInfo): Levels[] | undefined {
    return map.get(client.username ?? ANONYMOUS_ACL_USER);
  }

  authorizePublish(client: ClientInfo, topic: string): false | undefined {
    if (this.write === null) return undefined;
    const rules = TopicAclPlugin.rules(this.write, client);
    const t = this.split(topic);
    if (rules !== undefined) for (const r of rules) if (matches(r, t)) return undefined;
    this.log.warn(`topic_acl: publish to ${JSON.stringify(topic)} denied for ${describeClient(client)}`);
    return false;
  }

  authorizeSubscribe(client: ClientInfo, filter: string): false | undefined {
    if (this.read === null) return undefined;
    const rules = TopicAclPlugin.rules(this.read, client);
    const f = levels(filter);
    if (rules !== undefined) for (const r of rules) if (overlaps(r, f)) return undefined;
    this.log.warn(`topic_acl: subscription to ${JSON.stringify(filter)} refused for ${describeClient(client)}`);
    return false;
  }

  authorizeDelivery(client: SubscriberInfo, topic: string): false | undefined {
    if (this.read === null) return undefined;
    const rules = TopicAclPlugin.rules(this.read, client);
    if (rules === undefined) return false;
    const t = this.split(topic);
    for (const r of rules) if (matches(r, t)) return undefined;
    return false;
  }

  /** Is the whole filter readable (every topic it can match)? For tests and tools. */
  coversFilter(client: SubscriberInfo, filter: string): boolean {
    if (this.read === null) return true;
    const f = levels(filter);
    return (TopicAclPlugin.rules(this.read, client) ?? []).some((r) => covers(r, f));
  }
}
