import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runPasswd, type PasswdIO } from '../../src/cli/passwd';
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { verifyPassword } from '../../src/core/auth/hashes';
import { parsePasswordFile } from '../../src/core/auth/password-file';
import { parseScramSecret, ScramServer } from '../../src/core/auth/scram';

const dir = mkdtempSync(join(tmpdir(), 'nestmq-passwd-'));
let seq = 0;
const fresh = (): string => join(dir, `passwd${++seq}`);

/** Runs `nestmq passwd ARGS` with `input` on a non-terminal stdin. */
async function passwd(args: string[], input = ''): Promise<{ code: number; out: string; err: string }> {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  stdin.end(input);
  const code = await runPasswd(args, { stdin, stdout, stderr } as PasswdIO);
  return { code, out, err };
}

function usersOf(file: string): Map<string, string> {
  return new Map(parsePasswordFile(readFileSync(file, 'utf8')).users);
}

async function valid(file: string, user: string, password: string): Promise<boolean> {
  const hash = usersOf(file).get(user);
  return hash !== undefined && verifyPassword(Buffer.from(password), hash);
}

describe('nestmq passwd', () => {
  it('-c -b creates a bcrypt file with mode 0600 at the given cost, and leaves no temporary file', async () => {
    const f = fresh();
    expect((await passwd(['-c', '--cost', '4', '-b', f, 'alice', 'pw-a'])).code).toBe(0);
    expect(usersOf(f).get('alice')).toMatch(/^\$2b\$04\$/);
    expect(await valid(f, 'alice', 'pw-a')).toBe(true);
    expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('cost defaults to 10', async () => {
    const f = fresh();
    await passwd(['-c', '-b', f, 'u', 'p']);
    expect(usersOf(f).get('u')).toMatch(/^\$2b\$10\$/);
  });

  it('updates a user in place, adds new ones, keeps comments and other users\' hashes untouched', async () => {
    const f = fresh();
    const mosq = '$7$101$c2FsdHNhbHRzYWx0$' + 'A'.repeat(86) + '==';
    writeFileSync(f, `# our users\nbob:${mosq}\nalice:$2b$04$${'x'.repeat(53)}\n`);
    await passwd(['--cost=4', '-b', f, 'alice', 'new-a']);
    await passwd(['--cost=4', '-b', f, 'carol', 'pw-c']);
    const lines = readFileSync(f, 'utf8').split('\n');
    expect(lines[0]).toBe('# our users');
    expect(lines[1]).toBe(`bob:${mosq}`);
    expect(lines[2]).toMatch(/^alice:\$2b\$04\$/);
    expect(lines[3]).toMatch(/^carol:/);
    expect(await valid(f, 'alice', 'new-a')).toBe(true);
    expect(await valid(f, 'carol', 'pw-c')).toBe(true);
  });

  it('-D deletes a user; deleting an absent user fails with 1', async () => {
    const f = fresh();
    await passwd(['-c', '--cost', '4', '-b', f, 'a', '1']);
    await passwd(['--cost', '4', '-b', f, 'b', '2']);
    expect((await passwd(['-D', f, 'a'])).code).toBe(0);
    expect([...usersOf(f).keys()]).toEqual(['b']);
    const r = await passwd(['-D', f, 'a']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/user "a" is not in/);
  });

  it('--batch reads user:password lines from stdin (passwords may contain colons)', async () => {
    const f = fresh();
    const r = await passwd(['-c', '--cost', '4', '--batch', f], '# comment\nu1:p1\r\nu2:pass:with:colons\n\nu1:p1-again\n');
    expect(r.code).toBe(0);
    expect([...usersOf(f).keys()]).toEqual(['u1', 'u2']);
    expect(await valid(f, 'u1', 'p1-again')).toBe(true);
    expect(await valid(f, 'u2', 'pass:with:colons')).toBe(true);
  });

  it('without -b reads the password as one line from a non-terminal stdin', async () => {
    const f = fresh();
    expect((await passwd(['-c', '--cost', '4', f, 'piped'], 'from-stdin\n')).code).toBe(0);
    expect(await valid(f, 'piped', 'from-stdin')).toBe(true);
  });

  it('-U hashes a plain-text file in place and leaves hashed lines alone', async () => {
    const f = fresh();
    const bc = `$2b$04$${'y'.repeat(53)}`;
    writeFileSync(f, `plain:secret\nhashed:${bc}\n`);
    const r = await passwd(['-U', '--cost', '4', f]);
    expect(r.code).toBe(0);
    expect(await valid(f, 'plain', 'secret')).toBe(true);
    expect(usersOf(f).get('hashed')).toBe(bc);
  });

  it.each([
    [['f'], /missing arguments/],
    [['-b', 'f', 'u'], /missing arguments/],
    [['-c', '-D', 'f', 'u'], /-c cannot be combined/],
    [['--cost', '3', '-b', 'f', 'u', 'p'], /--cost must be a whole number from 4 to 31/],
    [['--cost', '32', '-b', 'f', 'u', 'p'], /--cost must be/],
    [['-x', 'f', 'u'], /unknown option -x/],
    [['-b', 'f', 'u', 'p', 'extra'], /unexpected argument "extra"/],
  ])('bad usage %j exits 2', async (args, message) => {
    const r = await passwd(args as string[]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.err).toMatch(/Usage: nestmq passwd/);
  });

  it.each([
    [['-b', 'FILE', 'a:b', 'p'], /contains ':'/],
    [['-b', 'FILE', 'u', ''], /empty password/],
    [['-b', 'MISSING', 'u', 'p'], /does not exist \(use -c to create it\)/],
  ])('refuses %j with exit 1 and writes nothing', async (args, message) => {
    const f = fresh();
    if (args[1] === 'FILE') writeFileSync(f, '');
    const r = await passwd((args as string[]).map((a) => (a === 'FILE' || a === 'MISSING' ? f : a)));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(message);
    if (args[1] === 'MISSING') expect(existsSync(f)).toBe(false);
  });

  it('--help prints the usage and exits 0', async () => {
    const r = await passwd(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/--batch/);
  });
});

describe('nestmq passwd on a terminal', () => {
  function tty(typed: string[]): { io: PasswdIO; out: () => string; raw: boolean[] } {
    const stdin = Object.assign(new PassThrough(), { isTTY: true, raw: [] as boolean[], setRawMode(m: boolean) { this.raw.push(m); return this; } });
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (d) => (out += d));
    setImmediate(() => typed.forEach((t) => stdin.write(t)));
    return { io: { stdin, stdout, stderr: new PassThrough() } as PasswdIO, out: () => out, raw: stdin.raw };
  }

  it('asks twice without echo (raw mode), handles backspace and typed-ahead input', async () => {
    const f = fresh();
    const t = tty(['se', 'cx\u007fret\r', 'secret\r']);
    expect(await runPasswd(['-c', '--cost', '4', f, 'alice'], t.io)).toBe(0);
    expect(t.out()).toBe('Password: \nReenter password: \n');
    expect(t.raw).toEqual([true, false]);
    expect(await valid(f, 'alice', 'secret')).toBe(true);
  });

  it('different passwords fail with 1 and write nothing', async () => {
    const f = fresh();
    const t = tty(['one\rtwo\r']);
    expect(await runPasswd(['-c', '--cost', '4', f, 'alice'], t.io)).toBe(1);
    expect(existsSync(f)).toBe(false);
  });
});

describe('nestmq passwd --scram', () => {
  const SCRAM = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]{43}=):([A-Za-z0-9+/]{43}=)$/;

  it('writes a PostgreSQL-format SCRAM-SHA-256 secret with 4096 iterations and a 16-byte salt, which verifyPassword accepts', async () => {
    const f = fresh();
    expect((await passwd(['-c', '--scram', '-b', f, 'alice', 'pw-a'])).code).toBe(0);
    const line = usersOf(f).get('alice')!;
    const m = SCRAM.exec(line)!;
    expect(m).not.toBeNull();
    expect(m[1]).toBe('4096');
    expect(Buffer.from(m[2], 'base64')).toHaveLength(16);
    expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(await valid(f, 'alice', 'pw-a')).toBe(true);
    expect(await valid(f, 'alice', 'pw-b')).toBe(false);
  });

  it('the keys are RFC 5802 StoredKey and ServerKey of the password, recomputed here from the RFC formulas', async () => {
    const f = fresh();
    await passwd(['-c', '--scram', '--iterations', '5000', '-b', f, 'bob', 'builder']);
    const m = SCRAM.exec(usersOf(f).get('bob')!)!;
    expect(m[1]).toBe('5000');
    const salted = pbkdf2Sync('builder', Buffer.from(m[2], 'base64'), 5000, 32, 'sha256');
    const storedKey = createHash('sha256').update(createHmac('sha256', salted).update('Client Key').digest()).digest();
    expect(m[3]).toBe(storedKey.toString('base64'));
    expect(m[4]).toBe(createHmac('sha256', salted).update('Server Key').digest('base64'));
  });

  it('an entry it writes authenticates a SCRAM exchange', async () => {
    const f = fresh();
    await passwd(['-c', '--scram', '-b', f, 'carol', 'pencil']);
    const creds = parseScramSecret(usersOf(f).get('carol')!)!;
    const server = new ScramServer((u) => (u === 'carol' ? creds : undefined));
    const first = await server.start(Buffer.from('n,,n=carol,r=abcdef'));
    if (!first.ok) throw new Error(first.detail);
    const attrs = Object.fromEntries(first.serverFirst.toString().split(',').map((a) => [a[0], a.slice(2)]));
    const salted = pbkdf2Sync('pencil', Buffer.from(attrs.s, 'base64'), Number(attrs.i), 32, 'sha256');
    const clientKey = createHmac('sha256', salted).update('Client Key').digest();
    const withoutProof = `c=biws,r=${attrs.r}`;
    const authMessage = `n=carol,r=abcdef,${first.serverFirst.toString()},${withoutProof}`;
    const signature = createHmac('sha256', createHash('sha256').update(clientKey).digest()).update(authMessage).digest();
    const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]));
    const final = server.finish(Buffer.from(`${withoutProof},p=${proof.toString('base64')}`));
    expect(final).toMatchObject({ ok: true, username: 'carol' });
  });

  it('--batch and -U write SCRAM secrets too, and SASLprep the password (soft hyphen removed)', async () => {
    const f = fresh();
    expect((await passwd(['-c', '--scram', '--batch', f], 'u1:p1\nu2:I\u00ADX\n')).code).toBe(0);
    expect(usersOf(f).get('u1')).toMatch(SCRAM);
    expect(await valid(f, 'u1', 'p1')).toBe(true);
    expect(await valid(f, 'u2', 'IX')).toBe(true);
    const g = fresh();
    writeFileSync(g, 'plain:secret\n');
    expect((await passwd(['-U', '--scram', g])).code).toBe(0);
    expect(usersOf(g).get('plain')).toMatch(SCRAM);
    expect(await valid(g, 'plain', 'secret')).toBe(true);
  });

  it.each([
    [['--iterations', '5000', '-b', 'f', 'u', 'p'], /--iterations applies to --scram only/],
    [['--scram', '--iterations', '4095', '-b', 'f', 'u', 'p'], /--iterations must be a whole number from 4096 to 10000000/],
    [['--scram', '--iterations=10000001', '-b', 'f', 'u', 'p'], /--iterations must be/],
    [['--scram', '--iterations', 'lots', '-b', 'f', 'u', 'p'], /--iterations must be/],
    [['--scram', '--iterations'], /--iterations needs a number/],
    [['--scram', '--cost', '5', '-b', 'f', 'u', 'p'], /with --scram, use --iterations/],
    [['--scram', '-D', 'f', 'u'], /--scram cannot be combined with -D/],
  ])('bad usage %j exits 2', async (args, message) => {
    const r = await passwd(args as string[]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });

  it.each([
    [['--scram', '-b', 'FILE', 'u', 'bell\u0007'], /password for "u" cannot be used with SCRAM \(SASLprep\): prohibited character U\+0007/],
    [['--scram', '-b', 'FILE', 'u', 'a\u{E0080}'], /unassigned code point/],
    [['--scram', '-b', 'FILE', '\u2168', 'p'], /changes under SASLprep \(to "IX"\)/],
    [['--scram', '-b', 'FILE', 'a\u0627', 'p'], /cannot be used with SCRAM/],
  ])('refuses %j with exit 1 and writes nothing', async (args, message) => {
    const f = fresh();
    writeFileSync(f, '');
    const r = await passwd((args as string[]).map((a) => (a === 'FILE' ? f : a)));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(message);
    expect(readFileSync(f, 'utf8')).toBe('');
  });

  it('--help mentions --scram and --iterations', async () => {
    const r = await passwd(['--help']);
    expect(r.out).toMatch(/--scram/);
    expect(r.out).toMatch(/--iterations N/);
  });
});
