import { ConflictException, Inject, Injectable, NotFoundException, UnprocessableEntityException } from '@nestjs/common';
import { Broker, type BrokerConfig } from '../../core';
import { hashFormat } from '../../core/auth/hashes';
import {
  checkPasswordText,
  checkScramUsername,
  checkUsername,
  DEFAULT_BCRYPT_COST,
  DEFAULT_SCRAM_ITERATIONS,
  hashFor,
  lineUser,
  PasswdError,
  readLines,
  save,
  setUser,
} from '../../cli/passwd';
import { BROKER_CONFIG } from '../tokens';
import { ReloadService } from './reload.service';

export type PasswordScheme = 'bcrypt' | 'scram-sha-256';

/**
 * The password file (auth.password-file) as the admin API edits it, with the code of
 * `nestmq passwd`: the same checks, hashes and atomic write (temporary file beside it, renamed
 * over it, mode 0600), then Broker.reloadAuth() so that new connections see the change at once.
 * Changes are applied one at a time (a read-modify-write each), so two requests never lose each
 * other's line.
 */
@Injectable()
export class UsersService {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    @Inject(Broker) private readonly broker: Broker,
    @Inject(BROKER_CONFIG) private readonly config: BrokerConfig,
    @Inject(ReloadService) private readonly reloads: ReloadService,
  ) {}

  /** The configured file, or 409. */
  file(): string {
    const f = this.config.auth.passwordFile;
    if (f === undefined) {
      throw new ConflictException('no password file is configured (auth.password-file): users cannot be managed through the API');
    }
    return f;
  }

  async list(): Promise<{ username: string; scheme: string | null }[]> {
    const lines = await this.read(this.file());
    const out: { username: string; scheme: string | null }[] = [];
    for (const line of lines) {
      const user = lineUser(line);
      if (user === undefined) continue;
      out.push({ username: user, scheme: hashFormat(line.trim().slice(user.length + 1)) ?? null });
    }
    return out;
  }

  /** Adds (create) or replaces (update) a user's password; 409 when create finds it, 404 when update does not. */
  setPassword(username: string, password: string, scheme: PasswordScheme, mode: 'create' | 'update'): Promise<{ warning: string | null }> {
    const file = this.file();
    return this.serialized(async () => {
      let warning: string | null;
      try {
        checkUsername(username);
        if (scheme === 'scram-sha-256') checkScramUsername(username);
        warning = checkPasswordText(password, username, scheme === 'scram-sha-256');
      } catch (err) {
        if (err instanceof PasswdError) throw new UnprocessableEntityException(err.message);
        throw err;
      }
      const lines = await this.read(file);
      const exists = lines.some((l) => lineUser(l) === username);
      if (mode === 'create' && exists) throw new ConflictException(`user ${JSON.stringify(username)} exists already`);
      if (mode === 'update' && !exists) throw new NotFoundException(`no user ${JSON.stringify(username)} in the password file`);
      const hash = await hashFor({ scram: scheme === 'scram-sha-256', cost: DEFAULT_BCRYPT_COST, iterations: DEFAULT_SCRAM_ITERATIONS }, password);
      await this.write(file, setUser(lines, username, hash));
      return { warning };
    });
  }

  delete(username: string): Promise<void> {
    const file = this.file();
    return this.serialized(async () => {
      const lines = await this.read(file);
      const kept = lines.filter((l) => lineUser(l) !== username);
      if (kept.length === lines.length) throw new NotFoundException(`no user ${JSON.stringify(username)} in the password file`);
      await this.write(file, kept);
    });
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async read(file: string): Promise<string[]> {
    try {
      return await readLines(file);
    } catch (err) {
      if (err instanceof PasswdError) throw new ConflictException(err.message);
      throw err;
    }
  }

  /**
   * Atomic write (0600), then the auth plugins reload the file: through the service when it runs
   * one (the file watch then knows this write and does not reload it a second time), else directly.
   */
  private async write(file: string, lines: string[]): Promise<void> {
    await save(file, lines);
    await (this.reloads.reloadAuth() ?? this.broker.reloadAuth());
  }
}
