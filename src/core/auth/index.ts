/**
 * Authentication and authorization: the plugins named in the config, built into BrokerPlugin
 * instances. The Broker puts them first in its chain, followed by the embedder's own plugins
 * (`new Broker(config, { plugins })`); see docs/auth.md for the combination rules.
 */
import type { BrokerConfig } from '../config/types';
import type { BrokerPlugin } from '../hooks/plugin';
import { AclFilePlugin } from './acl-file';
import { AnonymousAuthPlugin, FileAuthPlugin } from './auth-plugins';
import { ScramAuthPlugin } from './scram-plugin';
import { RateLimitedLogger, silentLogger, type AuthLogger } from './log';
import { TopicAclPlugin, TopicTabooPlugin } from './topic-plugins';

export { AnonymousAuthPlugin, FileAuthPlugin, type AnonymousAuthOptions, type FileAuthOptions } from './auth-plugins';
export { ScramAuthPlugin, type ScramAuthOptions } from './scram-plugin';
export { TopicAclPlugin, TopicTabooPlugin, DEFAULT_TABOO_TOPICS, ANONYMOUS_ACL_USER, type TopicAclOptions, type TopicTabooOptions } from './topic-plugins';
export { AclFilePlugin, AclFileError, parseAclFile, type AclFile, type AclRule, type AclAccess, type AclFilePluginOptions } from './acl-file';
export { verifyPassword, hashPassword, hashFormat, constantTimeEqual, type HashFormat } from './hashes';
export { parsePasswordFile, readPasswordFile, type PasswordFile } from './password-file';
export { VerificationCache, DEFAULT_CACHE_SIZE } from './verification-cache';
export { sha512Crypt } from './sha512-crypt';
export {
  ScramServer,
  parseScramSecret,
  formatScramSecret,
  deriveScramCredentials,
  verifyScramPassword,
  SCRAM_MECHANISM,
  type ScramCredentials,
  type ScramLookup,
  type ScramServerOptions,
  type ScramStartResult,
  type ScramFinishResult,
  type ScramFailure,
  type ScramFailureReason,
  type ScramServerError,
} from './scram';
export { saslprep, type SaslprepResult } from './saslprep';
export { RateLimitedLogger, type AuthLogger } from './log';

export interface ConfiguredPluginsOptions {
  /**
   * The plugins that will follow the configured ones. If one of them authenticates, a username
   * needs checking, so auth.anonymous does not accept usernames unchecked.
   */
  extraPlugins?: readonly BrokerPlugin[];
  /** Where failed logins, denials and file problems go (rate-limited here). */
  logger?: AuthLogger;
  /** Entries in auth.file's cache of successful verifications (default 10,000; 0 disables). */
  cacheSize?: number;
}

/**
 * The plugins named in `auth.plugins` (in that order), then, when `topic-check` is enabled, those
 * in `topic-check.plugins` (in that order), then the `acl-file` plugin when `topic-check.acl-file`
 * is set. Reads the password and ACL files: a missing or invalid file throws.
 */
export function createConfiguredPlugins(config: BrokerConfig, options: ConfiguredPluginsOptions = {}): BrokerPlugin[] {
  const log = new RateLimitedLogger(options.logger ?? silentLogger);
  const out: BrokerPlugin[] = [];
  let anonymous: AnonymousAuthPlugin | undefined;
  for (const name of config.auth.plugins) {
    if (name === 'auth.anonymous') {
      anonymous = new AnonymousAuthPlugin({ allowAnonymous: config.auth.allowAnonymous });
      out.push(anonymous);
    } else if (name === 'auth.file') {
      // Without auth.password-file (validate.ts warns) it knows no users: a username is refused.
      out.push(new FileAuthPlugin({ passwordFile: config.auth.passwordFile, cacheSize: options.cacheSize ?? config.auth.cacheSize, logger: log }));
    } else if (name === 'auth.scram') {
      // MQTT 5 enhanced authentication (method SCRAM-SHA-256) over the file's SCRAM entries.
      out.push(new ScramAuthPlugin({ passwordFile: config.auth.passwordFile, logger: log }));
    }
  }
  if (anonymous !== undefined) {
    const authenticates = (p: BrokerPlugin): boolean => p !== anonymous && typeof p.authenticate === 'function';
    anonymous.acceptUsernames = !out.some(authenticates) && !(options.extraPlugins ?? []).some(authenticates);
  }

  const tc = config.topicCheck;
  const hasMaps = tc.acl !== undefined || tc.publishAcl !== undefined;
  if (!tc.enabled) {
    if (hasMaps || tc.aclFile !== undefined) log.warn('topic-check: ACLs are configured but topic-check.enabled is false: they are not applied');
    return out;
  }
  const aclPlugin = (): TopicAclPlugin => {
    if (!hasMaps) log.warn('topic-check: topic_acl without topic-check.acl: every subscription is refused (as in hbmqtt)');
    return new TopicAclPlugin({ acl: hasMaps ? tc.acl : {}, publishAcl: tc.publishAcl, logger: log });
  };
  for (const name of tc.plugins) {
    if (name === 'topic_taboo') out.push(new TopicTabooPlugin({ logger: log }));
    // topic_acl with only an acl-file means the file.
    else if (name === 'topic_acl' && (hasMaps || tc.aclFile === undefined)) out.push(aclPlugin());
  }
  // An acl or publish-acl given without naming topic_acl: the user plainly wants it applied.
  if (hasMaps && !tc.plugins.includes('topic_acl')) out.push(aclPlugin());
  if (tc.aclFile !== undefined) out.push(new AclFilePlugin({ aclFile: tc.aclFile, logger: log }));
  return out;
}

/**
 * The plugins the config names, built once (reading the password and ACL files), with the
 * warnings they raise (file problems, failed logins, denials) held until a broker takes them.
 * `new Broker(config)` builds one from its config; the Nest AuthModule provides one, which the
 * Broker receives through `BrokerOptions.configuredPlugins` instead of building a second.
 */
export class ConfiguredPlugins {
  /** In chain order: auth.plugins, then topic-check's. */
  readonly plugins: readonly BrokerPlugin[];
  /** The plugins that will follow these ones (they decide auth.anonymous's acceptUsernames). */
  readonly extraPlugins: readonly BrokerPlugin[];
  /** Warnings raised before connect(); null once connected. */
  private held: string[] | null = [];
  private sink: ((message: string) => void) | null = null;

  constructor(config: BrokerConfig, options: Omit<ConfiguredPluginsOptions, 'logger'> = {}) {
    this.extraPlugins = options.extraPlugins ?? [];
    this.plugins = createConfiguredPlugins(config, { ...options, logger: { warn: (message) => this.warn(message) } });
  }

  /**
   * Where the plugins' warnings go from now on, those raised so far first. One owner: plugins
   * belong to one broker's chain.
   */
  connect(sink: (message: string) => void): void {
    if (this.sink !== null) throw new Error('these configured plugins already belong to a broker');
    this.sink = sink;
    const held = this.held ?? [];
    this.held = null;
    for (const message of held) sink(message);
  }

  private warn(message: string): void {
    if (this.sink !== null) this.sink(message);
    else this.held!.push(message);
  }
}
