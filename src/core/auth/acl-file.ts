/**
 * Mosquitto's `acl_file` format, read from `topic-check.acl-file`:
 *
 *   # comment
 *   topic read $SYS/#                 rules before the first `user` line: clients without username
 *   user alice                        the following `topic` lines are alice's
 *   topic readwrite home/alice/#      access: read | write | readwrite (the default) | deny
 *   topic deny home/alice/secret/#
 *   pattern write devices/%c/status   `pattern` lines apply to every client wherever they stand;
 *   pattern read users/%u/#           %u = username, %c = client id, each a whole topic level
 *
 * Evaluation, as Mosquitto's: for a topic, the client's own list (its `user` section, or the
 * anonymous rules) is checked first, then the patterns; in each, `deny` rules come first. The
 * first matching rule decides: deny, or allow when it grants the access wanted; if none grants,
 * denied. Patterns using %u are skipped for clients without username; when patterns exist, a
 * username or client id containing `+` or `#` is denied everything the patterns would decide.
 *
 * Unlike Mosquitto 2.0, SUBSCRIBE is checked too: a filter is refused (0x80) when no topic it can
 * match is readable, i.e. no read rule overlaps it, or a deny rule covers it before any read rule
 * could apply. Deliveries are then checked per topic, so a granted wildcard receives only what
 * the client may read.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { BrokerPlugin, ClientInfo, SubscriberInfo } from '../hooks/plugin';
import { isValidTopicFilter } from '../topics/topic-validation';
import { describeClient, silentLogger, type AuthLogger } from './log';
import { covers, levels, overlaps, type Levels } from './topic-match';

export type AclAccess = 'read' | 'write' | 'readwrite' | 'deny';

export interface AclRule {
  readonly access: AclAccess;
  readonly topic: string;
  readonly levels: Levels;
  /** A `pattern` line with a %u or %c level. */
  readonly substitutes: boolean;
  readonly usesUsername: boolean;
  /** Line number in the file, for messages. */
  readonly line: number;
}

export interface AclFile {
  /** Rules before the first `user` line: for clients without username. */
  readonly anonymous: readonly AclRule[];
  readonly users: ReadonlyMap<string, readonly AclRule[]>;
  readonly patterns: readonly AclRule[];
}

export class AclFileError extends Error {
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(`${source}: invalid ACL file:\n  ${problems.join('\n  ')}`);
    this.name = 'AclFileError';
  }
}

const ACCESS = new Set<string>(['read', 'write', 'readwrite', 'deny']);

/** Deny rules first, order otherwise kept ("deny topics are handled before topics that grant"). */
function denyFirst(rules: AclRule[]): AclRule[] {
  return [...rules.filter((r) => r.access === 'deny'), ...rules.filter((r) => r.access !== 'deny')];
}

/** Parses an ACL file; every problem is reported at once (AclFileError), none is skipped silently. */
export function parseAclFile(text: string, source = 'acl file'): AclFile {
  const anonymous: AclRule[] = [];
  const users = new Map<string, AclRule[]>();
  const patterns: AclRule[] = [];
  const problems: string[] = [];
  let current = anonymous;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    const n = i + 1;
    const m = /^(\S+)(?:\s+(.*))?$/.exec(line)!;
    const keyword = m[1];
    const rest = (m[2] ?? '').trim();
    if (keyword === 'user') {
      if (rest === '') {
        problems.push(`line ${n}: "user" needs a username`);
        continue;
      }
      current = users.get(rest) ?? [];
      users.set(rest, current);
      continue;
    }
    if (keyword !== 'topic' && keyword !== 'pattern') {
      problems.push(`line ${n}: unknown keyword ${JSON.stringify(keyword)} (expected user, topic or pattern)`);
      continue;
    }
    // `topic [access] TOPIC`: the access word is optional, and the topic is the rest of the line
    // (it may contain spaces when the access is given).
    let access: AclAccess = 'readwrite';
    let topic = rest;
    const a = /^(\S+)\s+(.+)$/.exec(rest);
    if (a !== null && ACCESS.has(a[1])) {
      access = a[1] as AclAccess;
      topic = a[2].trim();
    }
    if (topic === '') {
      problems.push(`line ${n}: "${keyword}" needs a topic`);
      continue;
    }
    if (!isValidTopicFilter(topic)) {
      problems.push(`line ${n}: ${JSON.stringify(topic)} is not a valid topic filter`);
      continue;
    }
    const lv = levels(topic);
    const isPattern = keyword === 'pattern';
    const rule: AclRule = {
      access,
      topic,
      levels: lv,
      substitutes: isPattern && lv.some((l) => l === '%u' || l === '%c'),
      usesUsername: isPattern && lv.includes('%u'),
      line: n,
    };
    (isPattern ? patterns : current).push(rule);
  }
  if (problems.length > 0) throw new AclFileError(source, problems);
  const sortedUsers = new Map<string, readonly AclRule[]>();
  for (const [u, rules] of users) sortedUsers.set(u, denyFirst(rules));
  return { anonymous: denyFirst(anonymous), users: sortedUsers, patterns: denyFirst(patterns) };
}

function grants(rule: AclRule, want: 'read' | 'write'): boolean {
  return rule.access === 'readwrite' || rule.access === want;
}

function isDollar(level: string | undefined): boolean {
  return level !== undefined && level.charCodeAt(0) === 36;
}

/** matches() from topic-match.ts with %u/%c levels compared to the client's, without allocating. */
function ruleMatches(rule: AclRule, t: Levels, username: string | null, clientId: string): boolean {
  const r = rule.levels;
  if (isDollar(t[0]) && (r[0] === '+' || r[0] === '#')) return false;
  const sub = rule.substitutes;
  for (let i = 0; i < r.length; i++) {
    const lv = r[i];
    if (lv === '#') return true;
    if (i >= t.length) return false;
    if (lv === '+') continue;
    const want = sub && lv === '%u' ? username : sub && lv === '%c' ? clientId : lv;
    if (want !== t[i]) return false;
  }
  return r.length === t.length;
}

function substituted(rule: AclRule, username: string | null, clientId: string): Levels {
  if (!rule.substitutes) return rule.levels;
  return rule.levels.map((l) => (l === '%u' ? (username ?? l) : l === '%c' ? clientId : l));
}

function dangerous(s: string | null): boolean {
  return s !== null && (s.includes('+') || s.includes('#'));
}

export interface AclFilePluginOptions {
  /** Read at construction (a missing or invalid file throws) and again by reload(). */
  aclFile: string;
  logger?: AuthLogger;
}

/** Mosquitto `acl_file` authorization for publish, subscribe and delivery. */
export class AclFilePlugin implements BrokerPlugin {
  readonly name = 'acl-file';
  readonly aclFile: string;
  private acl: AclFile;
  private readonly log: AuthLogger;
  /** SHA-256 of the file last loaded: a reload of the same content changes nothing. */
  private contentHash: string;
  private lastTopic = '';
  private lastLevels: Levels = [''];

  constructor(options: AclFilePluginOptions) {
    this.aclFile = options.aclFile;
    this.log = options.logger ?? silentLogger;
    let text: string;
    try {
      text = readFileSync(this.aclFile, 'utf8');
    } catch (err) {
      throw new Error(`topic-check.acl-file: cannot read ${this.aclFile}: ${(err as Error).message}`);
    }
    this.acl = parseAclFile(text, this.aclFile);
    this.contentHash = createHash('sha256').update(text).digest('hex');
  }

  /** Re-reads the file; on a read or syntax error the previous rules stay and the promise rejects. */
  async reload(): Promise<void> {
    await this.reloadIfChanged();
  }

  /** reload(), telling whether the file's content changed (false: nothing was replaced). */
  async reloadIfChanged(): Promise<boolean> {
    let text: string;
    try {
      text = await readFile(this.aclFile, 'utf8');
    } catch (err) {
      throw new Error(`topic-check.acl-file: cannot read ${this.aclFile}, keeping the previous rules: ${(err as Error).message}`);
    }
    const hash = createHash('sha256').update(text).digest('hex');
    if (hash === this.contentHash) return false;
    this.acl = parseAclFile(text, this.aclFile);
    this.contentHash = hash;
    this.log.info?.(`acl-file: rules reloaded from ${this.aclFile}`);
    return true;
  }

  get rules(): AclFile {
    return this.acl;
  }

  private split(topic: string): Levels {
    if (topic !== this.lastTopic) {
      this.lastLevels = levels(topic);
      this.lastTopic = topic;
    }
    return this.lastLevels;
  }

  private own(username: string | null): readonly AclRule[] {
    return username === null ? this.acl.anonymous : (this.acl.users.get(username) ?? []);
  }

  /** May this client read (receive) or write (publish) this topic name? */
  check(client: SubscriberInfo, topic: string, want: 'read' | 'write'): boolean {
    const t = this.split(topic);
    const { username, clientId } = client;
    for (const rule of this.own(username)) {
      if (ruleMatches(rule, t, null, clientId)) {
        if (rule.access === 'deny') return false;
        if (grants(rule, want)) return true;
      }
    }
    const patterns = this.acl.patterns;
    if (patterns.length === 0) return false;
    if (dangerous(username) || dangerous(clientId)) return false;
    for (const rule of patterns) {
      if (rule.usesUsername && username === null) continue;
      if (ruleMatches(rule, t, username, clientId)) {
        if (rule.access === 'deny') return false;
        if (grants(rule, want)) return true;
      }
    }
    return false;
  }

  /** May this client subscribe to this filter: can any topic it matches be read? */
  canSubscribe(client: SubscriberInfo, filter: string): boolean {
    const f = levels(filter);
    const { username, clientId } = client;
    const own = this.own(username);
    for (const rule of own) if (rule.access === 'deny' && covers(rule.levels, f)) return false;
    if (own.some((r) => grants(r, 'read') && overlaps(r.levels, f))) return true;
    const patterns = this.acl.patterns;
    if (patterns.length === 0 || dangerous(username) || dangerous(clientId)) return false;
    const applicable = patterns.filter((r) => !(r.usesUsername && username === null)).map((r) => ({ r, lv: substituted(r, username, clientId) }));
    for (const { r, lv } of applicable) if (r.access === 'deny' && covers(lv, f)) return false;
    return applicable.some(({ r, lv }) => grants(r, 'read') && overlaps(lv, f));
  }

  authorizePublish(client: ClientInfo, topic: string): false | undefined {
    if (this.check(client, topic, 'write')) return undefined;
    this.log.warn(`acl-file: publish to ${JSON.stringify(topic)} denied for ${describeClient(client)}`);
    return false;
  }

  authorizeSubscribe(client: ClientInfo, filter: string): false | undefined {
    if (this.canSubscribe(client, filter)) return undefined;
    this.log.warn(`acl-file: subscription to ${JSON.stringify(filter)} refused for ${describeClient(client)}`);
    return false;
  }

  authorizeDelivery(client: SubscriberInfo, topic: string): false | undefined {
    return this.check(client, topic, 'read') ? undefined : false;
  }
}
