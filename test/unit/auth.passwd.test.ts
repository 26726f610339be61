import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runPasswd, type PasswdIO } from '../../src/cli/passwd';
import { verifyPassword } from '../../src/core/auth/hashes';
import { parsePasswordFile } from '../../src/core/auth/password-file';

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
