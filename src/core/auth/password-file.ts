/**
 * The password file: one `username:hash` a line (Mosquitto's and hbmqtt's format). Blank lines
 * and lines starting with `#` are ignored; the username ends at the first `:` (so it can contain
 * none); surrounding whitespace and a CR are trimmed. A line without `:` or with a hash format we
 * cannot verify is reported and skipped (that user cannot log in); a repeated username is
 * reported and the last line wins.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hashFormat } from './hashes';

export interface PasswordFile {
  /** username -> stored hash. */
  readonly users: ReadonlyMap<string, string>;
  /** Lines skipped or overridden, "FILE:LINE: what" (never the hash itself). */
  readonly problems: readonly string[];
}

export function parsePasswordFile(text: string, source = 'password file'): PasswordFile {
  const users = new Map<string, string>();
  const problems: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = `${source}:${i + 1}`;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      problems.push(`${where}: expected username:hash, line skipped`);
      continue;
    }
    const username = line.slice(0, colon);
    const hash = line.slice(colon + 1).trim();
    if (hashFormat(hash) === undefined) {
      problems.push(
        `${where}: user ${JSON.stringify(username)} has a password in an unsupported format ` +
          '(expected bcrypt $2a$/$2b$/$2y$, sha512-crypt $6$, Mosquitto $6$/$7$, or SCRAM-SHA-256$ with at least 4096 iterations), user skipped',
      );
      continue;
    }
    if (users.has(username)) problems.push(`${where}: user ${JSON.stringify(username)} appears again, this line wins`);
    users.set(username, hash);
  }
  return { users, problems };
}

export function readPasswordFileSync(path: string): PasswordFile {
  return parsePasswordFile(readFileSync(path, 'utf8'), path);
}

export async function readPasswordFile(path: string): Promise<PasswordFile> {
  return parsePasswordFile(await readFile(path, 'utf8'), path);
}
