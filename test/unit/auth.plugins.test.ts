import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AnonymousAuthPlugin, FileAuthPlugin } from '../../src/core/auth/auth-plugins';
import { hashPassword } from '../../src/core/auth/hashes';
import { createConfiguredPlugins } from '../../src/core/auth';
import { RateLimitedLogger } from '../../src/core/auth/log';
import { VerificationCache } from '../../src/core/auth/verification-cache';
import { validateConfig } from '../../src/core/config/validate';
import type { BrokerConfigInput } from '../../src/core/config/types';
import type { AuthenticateRequest, BrokerPlugin } from '../../src/core/hooks/plugin';
import { HookRegistry, isThenable } from '../../src/core/hooks/registry';
import { toV3ConnackReturnCode } from '../../src/core/protocol/reason-codes';

const dir = mkdtempSync(join(tmpdir(), 'nestmq-auth-'));
let seq = 0;
function file(text: string): string {
  const f = join(dir, `f${++seq}`);
  writeFileSync(f, text);
  return f;
}

const req = (username: string | null, password: string | null): AuthenticateRequest => ({
  clientId: 'c1',
  username,
  password: password === null ? null : Buffer.from(password),
  remoteAddress: '127.0.0.1:5000',
  listener: 'default',
});

const users = join(dir, 'users');
beforeAll(async () => {
  writeFileSync(users, `alice:${await hashPassword('alice-pw', 4)}\nbob:${await hashPassword('bob-pw', 4)}\n`);
});

describe('the verification cache', () => {
  it('hits only for the same user, stored hash and password; never holds the plaintext', () => {
    const cache = new VerificationCache(10);
    const d = cache.digest('alice', Buffer.from('pw'));
    expect(d.includes(Buffer.from('pw'))).toBe(false);
    expect(cache.has('alice', 'H', d)).toBe(false);
    cache.add('alice', 'H', d);
    expect(cache.has('alice', 'H', d)).toBe(true);
    expect(cache.has('alice', 'H2', d)).toBe(false); // the password file changed
    expect(cache.has('alice', 'H', cache.digest('alice', Buffer.from('pw2')))).toBe(false);
    expect(cache.has('bob', 'H', cache.digest('bob', Buffer.from('pw')))).toBe(false);
    // username and password are length-delimited in the digest: "ab"+"c" is not "a"+"bc"
    expect(cache.digest('ab', Buffer.from('c')).equals(cache.digest('a', Buffer.from('bc')))).toBe(false);
  });

  it('is bounded and evicts the least recently used entry', () => {
    const cache = new VerificationCache(3);
    const d = (u: string): Buffer => cache.digest(u, Buffer.from('pw'));
    for (const u of ['a', 'b', 'c']) cache.add(u, 'H', d(u));
    expect(cache.has('a', 'H', d('a'))).toBe(true); // a is now the most recent
    cache.add('d', 'H', d('d'));
    expect(cache.size).toBe(3);
    expect(cache.has('b', 'H', d('b'))).toBe(false); // evicted
    expect(cache.has('a', 'H', d('a'))).toBe(true);
    expect(cache.has('c', 'H', d('c'))).toBe(true);
    expect(cache.has('d', 'H', d('d'))).toBe(true);
  });

  it('after a reload keeps only entries whose stored hash is unchanged; size 0 disables it', () => {
    const cache = new VerificationCache(10);
    const d = (u: string): Buffer => cache.digest(u, Buffer.from('pw'));
    for (const u of ['a', 'b', 'c']) cache.add(u, 'H', d(u));
    cache.retainValid(new Map([['a', 'H'], ['b', 'CHANGED']]));
    expect([cache.has('a', 'H', d('a')), cache.has('b', 'H', d('b')), cache.has('c', 'H', d('c'))]).toEqual([true, false, false]);
    const off = new VerificationCache(0);
    off.add('a', 'H', d('a'));
    expect(off.has('a', 'H', d('a'))).toBe(false);
  });
});

describe('auth.file plugin', () => {
  it('accepts the right password, refuses a wrong or missing one with 0x04, passes unknown users and anonymous clients on', async () => {
    const p = new FileAuthPlugin({ passwordFile: users });
    expect(await p.authenticate(req('alice', 'alice-pw'))).toBe(true);
    expect(await p.authenticate(req('alice', 'wrong'))).toEqual({ ok: false, returnCode: 4, reason: 'wrong password' });
    expect(await p.authenticate(req('alice', null))).toEqual({ ok: false, returnCode: 4, reason: 'no password' });
    expect(await p.authenticate(req('mallory', 'x'))).toBeUndefined();
    expect(await p.authenticate(req(null, null))).toBeUndefined();
  });

  it('answers a cached credential synchronously, and caches only successes', async () => {
    const p = new FileAuthPlugin({ passwordFile: users });
    const first = p.authenticate(req('bob', 'bob-pw'));
    expect(isThenable(first)).toBe(true);
    expect(await first).toBe(true);
    expect(p.authenticate(req('bob', 'bob-pw'))).toBe(true); // no promise: no pause of the connection
    await p.authenticate(req('bob', 'nope'));
    const again = p.authenticate(req('bob', 'nope'));
    expect(isThenable(again)).toBe(true);
    await again;
    expect(p.cache.hits).toBe(1);
  });

  it('coalesces concurrent checks of one credential into one verification', async () => {
    const p = new FileAuthPlugin({ passwordFile: users });
    const results = await Promise.all(Array.from({ length: 20 }, () => p.authenticate(req('alice', 'alice-pw'))));
    expect(results.every((r) => r === true)).toBe(true);
    expect(p.cache.size).toBe(1);
  });

  it('reload: new passwords take effect, changed users leave the cache, errors keep the old users', async () => {
    const f = file(`carol:${await hashPassword('old', 4)}\ndave:${await hashPassword('dave-pw', 4)}\n`);
    const warnings: string[] = [];
    const p = new FileAuthPlugin({ passwordFile: f, logger: { warn: (m) => warnings.push(m) } });
    expect(await p.authenticate(req('carol', 'old'))).toBe(true);
    expect(await p.authenticate(req('dave', 'dave-pw'))).toBe(true);
    writeFileSync(f, `carol:${await hashPassword('new', 4)}\ndave:${(await hashPassword('dave-pw', 4))}\neve:${await hashPassword('eve-pw', 4)}\n`);
    await p.reload();
    expect(await p.authenticate(req('carol', 'old'))).toEqual({ ok: false, returnCode: 4, reason: 'wrong password' });
    expect(await p.authenticate(req('carol', 'new'))).toBe(true);
    expect(await p.authenticate(req('eve', 'eve-pw'))).toBe(true);
    writeFileSync(f, 'garbage without colon\n');
    await p.reload(); // readable: one bad line reported, no users
    expect(warnings.some((w) => /expected username:hash/.test(w))).toBe(true);
    expect(p.userCount).toBe(0);
    writeFileSync(f, `carol:${await hashPassword('new', 4)}\n`);
    await p.reload();
    const gone = join(dir, 'gone');
    const q = new FileAuthPlugin({ passwordFile: f });
    (q as unknown as { passwordFile: string }).passwordFile = gone;
    await expect(q.reload()).rejects.toThrow(/keeping the previous users/);
    expect(q.userCount).toBe(1);
  });

  it('logs failures with the username and never the password', async () => {
    const warnings: string[] = [];
    const p = new FileAuthPlugin({ passwordFile: users, logger: { warn: (m) => warnings.push(m) } });
    await p.authenticate(req('alice', 'Secret-Guess-123'));
    await p.authenticate(req('nobody', 'Other-Guess-456'));
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/wrong password for user "alice" \(client "c1" from 127\.0\.0\.1:5000\)/);
    expect(warnings[1]).toMatch(/user "nobody" .* is not in the password file/);
    expect(warnings.join()).not.toMatch(/Guess/);
  });

  it('a missing password file throws at construction', () => {
    expect(() => new FileAuthPlugin({ passwordFile: join(dir, 'none') })).toThrow(/auth\.password-file: cannot read/);
  });
});

describe('combination rules (configured plugins in the registry chain)', () => {
  async function outcome(config: BrokerConfigInput, r: AuthenticateRequest, extra: BrokerPlugin[] = []): Promise<number> {
    const c = validateConfig(config);
    const plugins = [...createConfiguredPlugins(c, { extraPlugins: extra }), ...extra];
    const registry = new HookRegistry(plugins, c.auth, () => undefined);
    // The registry speaks in Reason Codes; the table below is in 3.1.1 return codes.
    return toV3ConnackReturnCode((await registry.authenticate(r)).reasonCode)!;
  }
  const anon = (allow: boolean): BrokerConfigInput => ({ auth: { plugins: ['auth.anonymous'], 'allow-anonymous': allow } });
  const withFile = (allow: boolean, plugins = ['auth.anonymous', 'auth.file']): BrokerConfigInput => ({
    auth: { plugins, 'allow-anonymous': allow, 'password-file': users },
  });

  it.each([
    // auth.anonymous alone: a username is a label when anonymous access is allowed...
    ['anonymous, allowed', anon(true), null, null, 0],
    ['anonymous, allowed, username', anon(true), 'anyone', 'x', 0],
    // ...and never a key when it is not (hbmqtt's trap)
    ['anonymous, refused', anon(false), null, null, 5],
    ['anonymous refused, username alone', anon(false), 'anyone', null, 4],
    ['anonymous refused, username and password', anon(false), 'anyone', 'x', 4],
    // with auth.file, usernames must be proven, in either plugin order
    ['file+anon allowed: no username', withFile(true), null, null, 0],
    ['file+anon allowed: right password', withFile(true), 'alice', 'alice-pw', 0],
    ['file+anon allowed: wrong password', withFile(true), 'alice', 'bad', 4],
    ['file+anon allowed: username alone', withFile(true), 'alice', null, 4],
    ['file+anon allowed: unknown user', withFile(true), 'mallory', 'x', 4],
    ['file+anon refused: no username', withFile(false), null, null, 5],
    ['file+anon refused: right password', withFile(false), 'alice', 'alice-pw', 0],
    ['anon+file order: unknown user', withFile(true, ['auth.file', 'auth.anonymous']), 'mallory', 'x', 4],
    ['anon+file order: right password', withFile(true, ['auth.file', 'auth.anonymous']), 'bob', 'bob-pw', 0],
    ['file alone, anonymous allowed', withFile(true, ['auth.file']), null, null, 0],
    ['file alone, anonymous refused', withFile(false, ['auth.file']), null, null, 5],
    ['hbmqtt spelling auth_file', withFile(false, ['auth_file']), 'alice', 'alice-pw', 0],
  ] as const)('%s -> CONNACK %d', async (_title, config, user, password, code) => {
    expect(await outcome(config, req(user, password))).toBe(code);
  });

  it('an embedder authenticator makes auth.anonymous stop accepting usernames unchecked', async () => {
    const tokenPlugin: BrokerPlugin = { name: 'token', authenticate: (r) => (r.password?.toString() === 'token-ok' ? true : undefined) };
    expect(await outcome(anon(true), req('dev', 'token-ok'), [tokenPlugin])).toBe(0);
    expect(await outcome(anon(true), req('dev', 'nope'), [tokenPlugin])).toBe(4);
    expect(await outcome(anon(true), req(null, null), [tokenPlugin])).toBe(0);
  });

  it('an embedder plugin is asked about anonymous clients when allow-anonymous is false', async () => {
    const certPlugin: BrokerPlugin = { authenticate: (r) => (r.certificateCommonName === 'device-1' ? { ok: true, username: 'device-1' } : undefined) };
    expect(await outcome(anon(false), { ...req(null, null), certificateCommonName: 'device-1' }, [certPlugin])).toBe(0);
    expect(await outcome(anon(false), req(null, null), [certPlugin])).toBe(5);
  });
});

describe('createConfiguredPlugins', () => {
  const names = (config: BrokerConfigInput): (string | undefined)[] => createConfiguredPlugins(validateConfig(config)).map((p) => p.name);

  it('builds auth plugins in auth.plugins order, then topic plugins, then the acl-file plugin', () => {
    const acl = file('user alice\ntopic read a/#\n');
    expect(names({ auth: { plugins: ['auth_file', 'auth_anonymous'], 'password-file': users } })).toEqual(['auth.file', 'auth.anonymous']);
    expect(
      names({
        auth: { plugins: ['auth.anonymous'] },
        'topic-check': { enabled: true, plugins: ['topic_acl', 'topic_taboo'], acl: { alice: ['a/#'] }, 'acl-file': acl },
      }),
    ).toEqual(['auth.anonymous', 'topic_acl', 'topic_taboo', 'acl-file']);
    // topic_acl with only an acl-file means the file; acl maps without naming topic_acl still apply
    expect(names({ 'topic-check': { enabled: true, plugins: ['topic_acl'], 'acl-file': acl } })).toEqual(['auth.anonymous', 'acl-file']);
    expect(names({ 'topic-check': { enabled: true, acl: { a: ['#'] } } })).toEqual(['auth.anonymous', 'topic_acl']);
  });

  it('topic-check disabled builds no topic plugin and says why', () => {
    const warnings: string[] = [];
    const c = validateConfig({ 'topic-check': { enabled: false, plugins: ['topic_taboo'], acl: { a: ['#'] } } });
    expect(createConfiguredPlugins(c, { logger: { warn: (m) => warnings.push(m) } }).map((p) => p.name)).toEqual(['auth.anonymous']);
    expect(warnings[0]).toMatch(/not applied/);
  });
});

describe('rate-limited logging', () => {
  it('lets `limit` messages through per window, then sums up the rest', () => {
    let now = 0;
    const out: string[] = [];
    const log = new RateLimitedLogger({ warn: (m) => out.push(m) }, 3, 1000, () => now);
    for (let i = 0; i < 10; i++) log.warn(`m${i}`);
    expect(out).toEqual(['m0', 'm1', 'm2']);
    now = 1500;
    log.warn('later');
    expect(out.slice(3)).toEqual(['7 similar auth messages suppressed in the last 1 s', 'later']);
  });
});

describe('anonymous plugin', () => {
  it('accepts usernames only when told no other plugin checks them', () => {
    expect(new AnonymousAuthPlugin({ allowAnonymous: true }).authenticate(req('u', null))).toBeUndefined();
    expect(new AnonymousAuthPlugin({ allowAnonymous: true, acceptUsernames: true }).authenticate(req('u', null))).toBe(true);
    expect(new AnonymousAuthPlugin({ allowAnonymous: false, acceptUsernames: true }).authenticate(req('u', null))).toBeUndefined();
    expect(new AnonymousAuthPlugin({ allowAnonymous: false }).authenticate(req(null, null))).toBeUndefined();
  });
});
