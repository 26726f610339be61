/**
 * The authentication plugins named in `auth.plugins`: `auth.anonymous` and `auth.file`
 * (hbmqtt's `auth_anonymous`/`auth_file` spellings map to these in validate.ts).
 *
 * Both answer only what is theirs to answer and pass the rest on (undefined), so the chain's
 * "first definite answer wins" composes them in any order; see docs/auth.md:
 *
 *   auth.anonymous  no username: accepted when allow-anonymous is true, else passed on (the
 *                   end of the chain then refuses with 0x05). A username: accepted only when
 *                   allow-anonymous is true and no plugin checks passwords (then a username is a
 *                   mere label, as in hbmqtt and in Mosquitto without a password file); else
 *                   passed on, never accepted merely for being there.
 *   auth.file       no username: passed on. A user of the file: accepted with the right
 *                   password, refused with 0x04 otherwise (no password, wrong password). A user
 *                   not in the file: passed on (the end of the chain refuses it with 0x04 unless
 *                   a later plugin knows it).
 */
import { createHash } from 'node:crypto';
import type { AuthenticateRequest, AuthenticateResult, Awaitable, BrokerPlugin } from '../hooks/plugin';
import { verifyPassword, hashFormat } from './hashes';
import { describeClient, silentLogger, type AuthLogger } from './log';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parsePasswordFile, type PasswordFile } from './password-file';
import { parseSha512Crypt } from './sha512-crypt';
import { DEFAULT_CACHE_SIZE, VerificationCache } from './verification-cache';

export interface AnonymousAuthOptions {
  allowAnonymous: boolean;
  /**
   * Accept clients that send a username without checking it. Only honoured with allowAnonymous;
   * createConfiguredPlugins() sets it when no other plugin authenticates.
   */
  acceptUsernames?: boolean;
}

export class AnonymousAuthPlugin implements BrokerPlugin {
  readonly name = 'auth.anonymous';
  /** Decides from the username alone, at once. */
  readonly cheapAuthentication = true;
  readonly allowAnonymous: boolean;
  acceptUsernames: boolean;

  constructor(options: AnonymousAuthOptions) {
    this.allowAnonymous = options.allowAnonymous;
    this.acceptUsernames = options.acceptUsernames ?? false;
  }

  authenticate(req: AuthenticateRequest): AuthenticateResult {
    if (!this.allowAnonymous) return undefined;
    if (req.username === null) return true;
    return this.acceptUsernames ? true : undefined;
  }
}

export interface FileAuthOptions {
  /**
   * The password file (`username:hash` lines). Read at construction: a missing file throws.
   * Undefined: no file (hbmqtt's sample configuration), the plugin knows no users.
   */
  passwordFile: string | undefined;
  /** Entries of the cache of successful verifications (0 disables it). Default 10,000. */
  cacheSize?: number;
  logger?: AuthLogger;
}

/** Password-file authentication (bcrypt, sha512-crypt, Mosquitto $6$/$7$), with a verification cache. */
export class FileAuthPlugin implements BrokerPlugin {
  readonly name = 'auth.file';
  readonly passwordFile: string | undefined;
  readonly cache: VerificationCache;
  private users: ReadonlyMap<string, string>;
  /** Concurrent checks of one credential share one verification (a client retrying in a storm). */
  private readonly pending = new Map<string, Promise<boolean>>();
  /** A hash of the file's most common scheme and cost, verified against for unknown users (see pickDecoy). */
  private decoy: string | undefined;
  private readonly log: AuthLogger;
  /** SHA-256 of the file last loaded: a reload of the same content changes nothing. */
  private contentHash = '';

  constructor(options: FileAuthOptions) {
    this.passwordFile = options.passwordFile;
    this.cache = new VerificationCache(options.cacheSize ?? DEFAULT_CACHE_SIZE);
    this.log = options.logger ?? silentLogger;
    let file: PasswordFile = { users: new Map(), problems: [] };
    if (this.passwordFile !== undefined) {
      try {
        const text = readFileSync(this.passwordFile, 'utf8');
        this.contentHash = sha256(text);
        file = parsePasswordFile(text, this.passwordFile);
      } catch (err) {
        throw new Error(`auth.password-file: cannot read ${this.passwordFile}: ${(err as Error).message}`);
      }
    }
    this.users = file.users;
    this.decoy = pickDecoy(file.users);
    this.report(file);
  }

  get userCount(): number {
    return this.users.size;
  }

  hasUser(username: string): boolean {
    return this.users.has(username);
  }

  /**
   * Re-reads the password file. Connected clients are not touched; new connections see the new
   * users and passwords. Cached verifications of users whose line changed (or who are gone) are
   * dropped. On a read error the old users stay and the promise rejects.
   */
  async reload(): Promise<void> {
    await this.reloadIfChanged();
  }

  /** reload(), telling whether the file's content changed (false: nothing was replaced). */
  async reloadIfChanged(): Promise<boolean> {
    if (this.passwordFile === undefined) return false;
    let text: string;
    try {
      text = await readFile(this.passwordFile, 'utf8');
    } catch (err) {
      throw new Error(`auth.password-file: cannot read ${this.passwordFile}, keeping the previous users: ${(err as Error).message}`);
    }
    const hash = sha256(text);
    if (hash === this.contentHash) return false;
    const file = parsePasswordFile(text, this.passwordFile);
    this.users = file.users;
    this.decoy = pickDecoy(file.users);
    this.cache.retainValid(file.users);
    this.contentHash = hash;
    this.report(file);
    return true;
  }

  private report(file: PasswordFile): void {
    for (const p of file.problems) this.log.warn(p);
    if (this.passwordFile === undefined) return;
    this.log.info?.(`auth.file: ${file.users.size} user(s) loaded from ${this.passwordFile}`);
  }

  authenticate(req: AuthenticateRequest): Awaitable<AuthenticateResult> {
    const username = req.username;
    if (username === null) return undefined;
    const stored = this.users.get(username);
    if (stored === undefined) {
      this.log.warn(`auth.file: ${describeClient(req)} is not in the password file`);
      if (req.password === null || this.decoy === undefined) return undefined;
      // Same cost as a known user's wrong password: response times do not tell which users exist.
      return verifyPassword(req.password, this.decoy).then(
        () => undefined,
        () => undefined,
      );
    }
    if (req.password === null) {
      this.log.warn(`auth.file: ${describeClient(req)} sent no password`);
      return { ok: false, returnCode: 4, reason: 'no password' };
    }
    const digest = this.cache.digest(username, req.password);
    // The fast path stays synchronous: no promise, no pause of the connection.
    if (this.cache.has(username, stored, digest)) return true;
    return this.verify(username, req.password, stored, digest).then((ok): AuthenticateResult => {
      if (ok) return true;
      this.log.warn(`auth.file: wrong password for ${describeClient(req)}`);
      return { ok: false, returnCode: 4, reason: 'wrong password' };
    });
  }

  private verify(username: string, password: Buffer, stored: string, digest: Buffer): Promise<boolean> {
    const key = `${digest.toString('base64')}${stored}`;
    let p = this.pending.get(key);
    if (p === undefined) {
      p = verifyPassword(password, stored).then(
        (ok) => {
          this.pending.delete(key);
          // Cache only if the file still says the same (a reload may have happened meanwhile).
          if (ok && this.users.get(username) === stored) this.cache.add(username, stored, digest);
          return ok;
        },
        (err: unknown) => {
          this.pending.delete(key);
          throw err;
        },
      );
      this.pending.set(key, p);
    }
    return p;
  }
}

/**
 * The hash an unknown user's password is checked against: one of the file's most common scheme
 * and cost (bcrypt cost, PBKDF2 iterations, SHA-512-crypt rounds), chosen again at every load, so
 * that an unknown user costs what a known user's wrong password costs in this file. A bcrypt decoy
 * in a file of $7$ users answered unknown users in ~50 ms and wrong passwords in ~1 ms: the
 * usernames could be told apart by timing.
 */
export function pickDecoy(users: ReadonlyMap<string, string>): string | undefined {
  const groups = new Map<string, { count: number; hash: string }>();
  let best: { count: number; hash: string } | undefined;
  for (const hash of users.values()) {
    const key = costClass(hash);
    let g = groups.get(key);
    if (g === undefined) groups.set(key, (g = { count: 0, hash }));
    g.count++;
    if (best === undefined || g.count > best.count) best = g;
  }
  return best?.hash;
}

/** Scheme and cost parameters of a stored hash: hashes of one class cost the same to verify. */
function costClass(stored: string): string {
  const format = hashFormat(stored);
  switch (format) {
    case 'bcrypt':
      return `bcrypt:${stored.slice(4, 6)}`; // $2b$NN$: $2a$/$2b$/$2y$ cost the same
    case 'mosquitto-pbkdf2':
      return `pbkdf2:${stored.split('$')[2]}`;
    case 'sha512-crypt':
      return `sha512-crypt:${parseSha512Crypt(stored)!.rounds}`;
    default:
      return format ?? '';
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
