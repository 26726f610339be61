/**
 * `auth.scram`: MQTT 5 enhanced authentication with Authentication Method "SCRAM-SHA-256" over
 * the SCRAM entries of the password file (`nestmq passwd --scram`). Two steps (docs/scram.md):
 *
 *   step 1  CONNECT / AUTH 0x19  data client-first  -> continue(server-first)  (AUTH 0x18)
 *   step 2  AUTH 0x18            data client-final  -> success(server-final)   (CONNACK / AUTH 0x00)
 *
 * Wrong password and unknown user are answered alike: 0x86 Bad User Name or Password. Malformed
 * SCRAM messages, no Authentication Data (SCRAM is client-first) and the other failures: 0x87.
 * A CONNECT User Name, when given, must be the SCRAM user (ACLs key on it): else 0x86.
 * Users without a SCRAM entry (bcrypt lines) are unknown users here; `auth.file` still checks a
 * plain username/password CONNECT against every line, SCRAM ones included.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Awaitable, BrokerPlugin, EnhancedAuthRequest, EnhancedAuthResult } from '../hooks/plugin';
import { ReasonCode } from '../protocol/reason-codes';
import { silentLogger, type AuthLogger } from './log';
import { parsePasswordFile } from './password-file';
import { parseScramSecret, SCRAM_MECHANISM, type ScramCredentials, ScramServer, type ScramServerOptions } from './scram';

export interface ScramAuthOptions {
  /** The password file; read at construction (a missing file throws). */
  passwordFile: string | undefined;
  /** Passed to each ScramServer (secret for unknown users' salts, fakeIterations, ...). */
  scram?: ScramServerOptions;
  logger?: AuthLogger;
}

export class ScramAuthPlugin implements BrokerPlugin {
  readonly name = 'auth.scram';
  readonly authenticationMethods = [SCRAM_MECHANISM];
  readonly passwordFile: string | undefined;
  private users: ReadonlyMap<string, ScramCredentials> = new Map();
  private contentHash = '';
  private readonly log: AuthLogger;
  private readonly scramOptions: ScramServerOptions;
  /** Shared by every exchange: no closure per step. */
  private readonly lookup = (username: string): ScramCredentials | undefined => this.users.get(username);

  constructor(options: ScramAuthOptions) {
    this.passwordFile = options.passwordFile;
    this.log = options.logger ?? silentLogger;
    this.scramOptions = options.scram ?? {};
    if (this.passwordFile === undefined) return;
    try {
      this.load(readFileSync(this.passwordFile, 'utf8'));
    } catch (err) {
      throw new Error(`auth.password-file: cannot read ${this.passwordFile}: ${(err as Error).message}`);
    }
  }

  get userCount(): number {
    return this.users.size;
  }

  /** Re-reads the password file: new exchanges see the new entries; on a read error the old ones stay. */
  async reload(): Promise<void> {
    if (this.passwordFile === undefined) return;
    let text: string;
    try {
      text = await readFile(this.passwordFile, 'utf8');
    } catch (err) {
      throw new Error(`auth.password-file: cannot read ${this.passwordFile}, keeping the previous SCRAM users: ${(err as Error).message}`);
    }
    this.load(text);
  }

  /** Only the SCRAM-SHA-256 lines (the file's parser reports the other problems for auth.file). */
  private load(text: string): void {
    const hash = createHash('sha256').update(text).digest('hex');
    if (hash === this.contentHash) return;
    const users = new Map<string, ScramCredentials>();
    for (const [username, stored] of parsePasswordFile(text, this.passwordFile).users) {
      const credentials = stored.startsWith(`${SCRAM_MECHANISM}$`) ? parseScramSecret(stored) : undefined;
      if (credentials !== undefined) users.set(username, credentials);
    }
    this.users = users;
    this.contentHash = hash;
    this.log.info?.(`auth.scram: ${users.size} SCRAM-SHA-256 user(s) in ${this.passwordFile}`);
  }

  authenticateEnhanced(req: EnhancedAuthRequest): Awaitable<EnhancedAuthResult> {
    if (req.step === 1) {
      if (req.data === null) return { success: false, reasonCode: ReasonCode.NotAuthorized, reason: 'no client-first message' };
      const server = new ScramServer(this.lookup, this.scramOptions);
      req.state = server;
      return server.start(req.data).then((r): EnhancedAuthResult => {
        if (r.ok) return { continue: r.serverFirst };
        this.log.warn(`auth.scram: client-first refused for ${req.remoteAddress}: ${r.detail}`);
        return { success: false, reasonCode: ReasonCode.NotAuthorized, reason: r.serverError };
      });
    }
    const server = req.state as ScramServer;
    if (req.data === null) return { success: false, reasonCode: ReasonCode.NotAuthorized, reason: 'no client-final message' };
    const r = server.finish(req.data);
    if (!r.ok) {
      const credentials = r.reason === 'invalid-proof' || r.reason === 'unknown-user';
      this.log.warn(`auth.scram: refused for ${req.remoteAddress}: ${r.detail}`);
      return { success: false, reasonCode: credentials ? ReasonCode.BadUserNameOrPassword : ReasonCode.NotAuthorized, reason: r.serverError };
    }
    // The CONNECT's User Name (and, on re-authentication, the connection's) must be the proven user.
    if (req.username !== null && req.username !== r.username) {
      this.log.warn(`auth.scram: ${req.remoteAddress} proved ${JSON.stringify(r.username)} but connected as ${JSON.stringify(req.username)}`);
      return { success: false, reasonCode: ReasonCode.BadUserNameOrPassword, reason: 'user name differs' };
    }
    return { success: true, data: r.serverFinal, username: r.username };
  }
}
