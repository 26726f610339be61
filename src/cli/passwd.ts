/**
 * `nestmq passwd`: manage an auth.file password file, like mosquitto_passwd, writing bcrypt, or
 * with --scram a SCRAM-SHA-256 secret in PostgreSQL's format (docs/scram.md), which serves both
 * MQTT 5 SCRAM authentication and a plain username/password CONNECT.
 *
 *   nestmq passwd [-c] [--cost N] FILE USER             add or update USER; the password is asked
 *                                                       twice on a terminal, or read as one line
 *                                                       from stdin when it is not a terminal
 *   nestmq passwd [-c] [--cost N] -b FILE USER PASSWORD password on the command line
 *   nestmq passwd -D FILE USER                          delete USER
 *   nestmq passwd [-c] [--cost N] --batch FILE          `user:password` lines from stdin
 *   nestmq passwd -U [--cost N] FILE                    hash a plain-text `user:password` file in place
 *
 * --scram [--iterations N] instead of [--cost N] in any of the adding forms writes SCRAM-SHA-256.
 *
 * -c creates the file (overwriting one that exists); without it the file must exist. Other lines
 * (comments, other users, their hash formats) are kept as they are. The file is written to a
 * temporary file beside it and renamed over it (readers never see half a file), mode 0600.
 * Exit status: 0 done, 1 failed (file, user not found, passwords differ), 2 bad usage.
 */
import { randomBytes } from 'node:crypto';
import { chmod, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { hashFormat, hashPassword } from '../core/auth/hashes';
import { saslprep } from '../core/auth/saslprep';
import { deriveScramCredentials, formatScramSecret, SCRAM_MAX_ITERATIONS, SCRAM_MIN_ITERATIONS } from '../core/auth/scram';

export interface PasswdIO {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?(mode: boolean): unknown };
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export const DEFAULT_BCRYPT_COST = 10;
const MIN_COST = 4;
const MAX_COST = 31;
/**
 * RFC 7677's minimum and PostgreSQL's default: every SCRAM client computes PBKDF2 with this count
 * at each connection, and MQTT clients are often small devices. Raise it with --iterations.
 */
export const DEFAULT_SCRAM_ITERATIONS = SCRAM_MIN_ITERATIONS;

export const PASSWD_USAGE = `Usage: nestmq passwd [-c] [--cost N] FILE USER
       nestmq passwd [-c] [--cost N] -b FILE USER PASSWORD
       nestmq passwd -D FILE USER
       nestmq passwd [-c] [--cost N] --batch FILE    (user:password lines on stdin)
       nestmq passwd -U [--cost N] FILE              (hash a plain-text user:password file)
  With --scram [--iterations N] in place of [--cost N], the forms that add users write SCRAM-SHA-256.

  -c          create FILE (overwrites an existing one)
  -D          delete USER
  -b          take the password from the command line (it is then visible in ps and shell history)
  --batch     read user:password lines from stdin, add or update each
  -U          replace every plain-text password in FILE by its bcrypt hash
  --cost N    bcrypt cost, ${MIN_COST}-${MAX_COST} (default ${DEFAULT_BCRYPT_COST}; each +1 doubles the time of a check)
  --scram     write SCRAM-SHA-256 secrets (PostgreSQL's format) instead of bcrypt: usable for MQTT 5
              SCRAM-SHA-256 authentication and for a plain username/password CONNECT
  --iterations N
              SCRAM iteration count, ${SCRAM_MIN_ITERATIONS}-${SCRAM_MAX_ITERATIONS} (default ${DEFAULT_SCRAM_ITERATIONS}; each client pays it at each connect)
  -h, --help  show this help

Without -b, the password is asked twice on a terminal, or read as one line from stdin.
The file is written with mode 0600.
`;

class UsageError extends Error {}
/** A refusal or failure to report as it is (bad user name or password, unreadable file). */
export class PasswdError extends Error {}

interface Options {
  create: boolean;
  del: boolean;
  cmdline: boolean;
  batch: boolean;
  upgrade: boolean;
  cost: number;
  scram: boolean;
  iterations: number;
  positional: string[];
}

function parseArgs(argv: string[]): Options | 'help' {
  const o: Options = {
    create: false,
    del: false,
    cmdline: false,
    batch: false,
    upgrade: false,
    cost: DEFAULT_BCRYPT_COST,
    scram: false,
    iterations: DEFAULT_SCRAM_ITERATIONS,
    positional: [],
  };
  let costText: string | undefined;
  let iterationsText: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') return 'help';
    else if (a === '-c') o.create = true;
    else if (a === '-D') o.del = true;
    else if (a === '-b') o.cmdline = true;
    else if (a === '--batch') o.batch = true;
    else if (a === '-U') o.upgrade = true;
    else if (a === '--scram') o.scram = true;
    else if (a === '--iterations') {
      if (i + 1 >= argv.length) throw new UsageError('--iterations needs a number');
      iterationsText = argv[++i];
    } else if (a.startsWith('--iterations=')) iterationsText = a.slice(13);
    else if (a === '--cost') {
      if (i + 1 >= argv.length) throw new UsageError('--cost needs a number');
      costText = argv[++i];
    } else if (a.startsWith('--cost=')) costText = a.slice(7);
    else if (a === '--') {
      o.positional.push(...argv.slice(i + 1));
      break;
    } else if (a.startsWith('-') && a.length > 1) throw new UsageError(`unknown option ${a}`);
    else o.positional.push(a);
  }
  if (costText !== undefined) {
    if (!/^[0-9]+$/.test(costText) || Number(costText) < MIN_COST || Number(costText) > MAX_COST) {
      throw new UsageError(`--cost must be a whole number from ${MIN_COST} to ${MAX_COST}, got ${JSON.stringify(costText)}`);
    }
    o.cost = Number(costText);
  }
  if (iterationsText !== undefined) {
    if (!o.scram) throw new UsageError('--iterations applies to --scram only');
    const n = Number(iterationsText);
    if (!/^[0-9]+$/.test(iterationsText) || n < SCRAM_MIN_ITERATIONS || n > SCRAM_MAX_ITERATIONS) {
      throw new UsageError(
        `--iterations must be a whole number from ${SCRAM_MIN_ITERATIONS} to ${SCRAM_MAX_ITERATIONS}, got ${JSON.stringify(iterationsText)}`,
      );
    }
    o.iterations = n;
  }
  if (o.scram && costText !== undefined) throw new UsageError('--cost is for bcrypt: with --scram, use --iterations');
  if (o.scram && o.del) throw new UsageError('--scram cannot be combined with -D');
  const modes = [o.del, o.batch, o.upgrade].filter(Boolean).length;
  if (modes > 1) throw new UsageError('-D, --batch and -U cannot be combined');
  if (o.cmdline && modes > 0) throw new UsageError('-b adds one user: it cannot be combined with -D, --batch or -U');
  if (o.create && (o.del || o.upgrade)) throw new UsageError('-c cannot be combined with -D or -U');
  const want = o.batch || o.upgrade ? 1 : o.cmdline ? 3 : 2;
  if (o.positional.length !== want) {
    throw new UsageError(o.positional.length < want ? 'missing arguments' : `unexpected argument ${JSON.stringify(o.positional[want])}`);
  }
  return o;
}

export function checkUsername(user: string): void {
  if (user === '') throw new PasswdError('the username is empty');
  if (user.includes(':')) throw new PasswdError(`username ${JSON.stringify(user)} contains ':', which the file format cannot hold`);
  if (/[\r\n]/.test(user)) throw new PasswdError('the username contains a line break');
  if (user.trim() !== user || user.startsWith('#')) throw new PasswdError(`username ${JSON.stringify(user)} starts or ends with a space, or starts with '#': the file could not be read back`);
  if (Buffer.byteLength(user) > 65535) throw new PasswdError('the username is longer than MQTT allows (65535 bytes)');
}

function checkPassword(password: string, io: PasswdIO, user: string, o: Options): void {
  const warning = checkPasswordText(password, user, o.scram);
  if (warning !== null) io.stderr.write(`nestmq passwd: warning: ${warning}\n`);
}

/** Throws PasswdError for a password the file or SCRAM cannot hold; returns a warning (bcrypt's 72 bytes) or null. */
export function checkPasswordText(password: string, user: string, scram: boolean): string | null {
  if (password === '') throw new PasswdError(`empty password for ${JSON.stringify(user)}`);
  if (/[\r\n]/.test(password)) throw new PasswdError(`the password for ${JSON.stringify(user)} contains a line break`);
  if (scram) {
    // A stored string (RFC 4013 §2.5): what every RFC client will compute from the same password.
    const prepared = saslprep(password, true);
    if (!prepared.ok) throw new PasswdError(`the password for ${JSON.stringify(user)} cannot be used with SCRAM (SASLprep): ${prepared.reason}`);
  } else if (Buffer.byteLength(password) > 72) {
    return `bcrypt uses only the first 72 bytes of the password of ${JSON.stringify(user)}`;
  }
  return null;
}

/**
 * A SCRAM client SASLpreps its username before sending it, and the same file line also serves a
 * plain CONNECT, compared byte for byte: only a username that SASLprep leaves as it is works for
 * both, so any other is refused with the form that would.
 */
export function checkScramUsername(user: string): void {
  const prepared = saslprep(user, true);
  if (!prepared.ok) throw new PasswdError(`username ${JSON.stringify(user)} cannot be used with SCRAM (SASLprep): ${prepared.reason}`);
  if (prepared.value !== user) {
    throw new PasswdError(`username ${JSON.stringify(user)} changes under SASLprep (to ${JSON.stringify(prepared.value)}): use that form with --scram`);
  }
}

/** The stored form of a password: bcrypt, or with --scram a SCRAM-SHA-256 secret. */
export async function hashFor(o: Pick<Options, 'scram' | 'cost' | 'iterations'>, password: string): Promise<string> {
  if (!o.scram) return hashPassword(password, o.cost);
  return formatScramSecret(deriveScramCredentials(password, o.iterations));
}

/** The username a line holds, or undefined for blank lines and comments. */
export function lineUser(line: string): string | undefined {
  const t = line.trim();
  if (t === '' || t.startsWith('#')) return undefined;
  const colon = t.indexOf(':');
  return colon > 0 ? t.slice(0, colon) : undefined;
}

export async function readLines(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new PasswdError(e.code === 'ENOENT' ? `${file} does not exist (use -c to create it)` : `cannot read ${file}: ${e.message}`);
  }
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

/** Write beside the file, flush, then rename over it: readers see the old file or the new one. */
export async function writeFileAtomic(file: string, content: string): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(content, 'utf8');
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  try {
    await chmod(tmp, 0o600);
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** Replace the user's line (the first; later duplicates go) or append one. */
export function setUser(lines: string[], user: string, hash: string): string[] {
  const out: string[] = [];
  let done = false;
  for (const line of lines) {
    if (lineUser(line) === user) {
      if (!done) out.push(`${user}:${hash}`);
      done = true;
    } else out.push(line);
  }
  if (!done) out.push(`${user}:${hash}`);
  return out;
}

function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer | string) => chunks.push(typeof c === 'string' ? Buffer.from(c) : c));
    stream.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.once('error', reject);
    stream.resume();
  });
}

/** Reads lines from a terminal without echoing them, one prompt per line (typed ahead text is kept). */
function readHidden(io: PasswdIO, prompts: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const stdin = io.stdin;
    const lines: string[] = [];
    let value = '';
    io.stdout.write(prompts[0]);
    stdin.setRawMode!(true);
    const finish = (err?: Error): void => {
      stdin.removeListener('data', onData);
      stdin.setRawMode!(false);
      stdin.pause();
      if (err) {
        io.stdout.write('\n');
        reject(err);
      } else resolve(lines);
    };
    const onData = (chunk: Buffer | string): void => {
      for (const ch of chunk.toString()) {
        if (ch === '\r' || ch === '\n') {
          lines.push(value);
          value = '';
          io.stdout.write('\n');
          if (lines.length === prompts.length) return finish();
          io.stdout.write(prompts[lines.length]);
        } else if (ch === '\u0003' || ch === '\u0004') return finish(new PasswdError('aborted'));
        else if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
    stdin.resume();
  });
}

async function askPassword(io: PasswdIO, user: string): Promise<string> {
  if (io.stdin.isTTY && typeof io.stdin.setRawMode === 'function') {
    const [first, again] = await readHidden(io, ['Password: ', 'Reenter password: ']);
    if (first !== again) throw new PasswdError('the passwords do not match');
    return first;
  }
  const text = await readAll(io.stdin);
  const line = text.split('\n')[0].replace(/\r$/, '');
  if (line === '' && text === '') throw new PasswdError(`no password for ${JSON.stringify(user)} on stdin`);
  return line;
}

/**
 * Runs `nestmq passwd` with the arguments after `passwd`; resolves with the exit status.
 * Messages go to io.stderr, never a password.
 */
export async function runPasswd(
  argv: string[],
  io: PasswdIO = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  let o: Options | 'help';
  try {
    o = parseArgs(argv);
  } catch (err) {
    io.stderr.write(`nestmq passwd: ${(err as Error).message}\n${PASSWD_USAGE}`);
    return 2;
  }
  if (o === 'help') {
    io.stdout.write(PASSWD_USAGE);
    return 0;
  }
  try {
    await execute(o, io);
    return 0;
  } catch (err) {
    if (!(err instanceof PasswdError)) throw err;
    io.stderr.write(`nestmq passwd: ${err.message}\n`);
    return 1;
  }
}

async function execute(o: Options, io: PasswdIO): Promise<void> {
  const file = o.positional[0];
  let lines: string[];
  if (o.del) {
    const user = o.positional[1];
    lines = await readLines(file);
    const kept = lines.filter((l) => lineUser(l) !== user);
    if (kept.length === lines.length) throw new PasswdError(`user ${JSON.stringify(user)} is not in ${file}`);
    return save(file, kept);
  }
  if (o.upgrade) {
    lines = await readLines(file);
    let changed = 0;
    const out: string[] = [];
    for (const line of lines) {
      const user = lineUser(line);
      const t = line.trim();
      const value = user === undefined ? '' : t.slice(user.length + 1);
      if (user === undefined || hashFormat(value) !== undefined) {
        out.push(line);
        continue;
      }
      if (o.scram) checkScramUsername(user);
      checkPassword(value, io, user, o);
      out.push(`${user}:${await hashFor(o, value)}`);
      changed++;
    }
    await save(file, out);
    io.stderr.write(`nestmq passwd: ${changed} password(s) hashed\n`);
    return;
  }
  lines = o.create ? [] : await readLines(file);
  if (o.batch) {
    const text = await readAll(io.stdin);
    const entries: [string, string][] = [];
    text.split('\n').forEach((raw, i) => {
      const line = raw.replace(/\r$/, '');
      if (line.trim() === '' || line.trimStart().startsWith('#')) return;
      const colon = line.indexOf(':');
      if (colon < 0) throw new PasswdError(`stdin line ${i + 1}: expected user:password`);
      const user = line.slice(0, colon);
      const password = line.slice(colon + 1);
      checkUsername(user);
      if (o.scram) checkScramUsername(user);
      checkPassword(password, io, user, o);
      entries.push([user, password]);
    });
    // bcrypt runs in libuv's thread pool: hash in parallel, apply in input order.
    const hashes = await Promise.all(entries.map(([, password]) => hashFor(o, password)));
    entries.forEach(([user], i) => (lines = setUser(lines, user, hashes[i])));
    return save(file, lines);
  }
  const user = o.positional[1];
  checkUsername(user);
  if (o.scram) checkScramUsername(user);
  const password = o.cmdline ? o.positional[2] : await askPassword(io, user);
  checkPassword(password, io, user, o);
  return save(file, setUser(lines, user, await hashFor(o, password)));
}

export async function save(file: string, lines: string[]): Promise<void> {
  try {
    await writeFileAtomic(file, lines.length === 0 ? '' : `${lines.join('\n')}\n`);
  } catch (err) {
    throw new PasswdError(`cannot write ${file}: ${(err as Error).message}`);
  }
}
