import { execFileSync } from 'node:child_process';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { hashFormat, verifyPassword } from '../../src/core/auth/hashes';
import { parsePasswordFile } from '../../src/core/auth/password-file';
import { saslprep } from '../../src/core/auth/saslprep';
import {
  deriveScramCredentials,
  formatScramSecret,
  parseScramSecret,
  ScramServer,
  type ScramCredentials,
  type ScramFailure,
  type ScramServerOptions,
} from '../../src/core/auth/scram';

/**
 * An independent SCRAM-SHA-256 client, written from RFC 5802 §3's formulas with node:crypto
 * only: it shares no code with src/core/auth/scram.ts.
 */
const H = (b: Buffer): Buffer => createHash('sha256').update(b).digest();
const HMAC = (key: Buffer, s: string): Buffer => createHmac('sha256', key).update(s).digest();
const xor = (a: Buffer, b: Buffer): Buffer => Buffer.from(a.map((x, i) => x ^ b[i]));
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const b64 = (b: Buffer | string): string => Buffer.from(b).toString('base64');

function credentialsFor(password: string, salt: Buffer, iterations: number): ScramCredentials {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  return { salt, iterations, storedKey: H(HMAC(salted, 'Client Key')), serverKey: HMAC(salted, 'Server Key') };
}

class TestClient {
  readonly clientFirstBare: string;
  private serverFirst = '';
  private saltedPassword = Buffer.alloc(0);
  private authMessage = '';

  constructor(
    username: string,
    private readonly password: string,
    readonly clientNonce = randomBytes(18).toString('base64'),
    readonly gs2Header = 'n,,',
  ) {
    const saslname = username.replace(/=/g, '=3D').replace(/,/g, '=2C');
    this.clientFirstBare = `n=${saslname},r=${clientNonce}`;
  }

  first(): Buffer {
    return Buffer.from(this.gs2Header + this.clientFirstBare);
  }

  final(serverFirst: Buffer, tamper: (withoutProof: string) => string = (s) => s): Buffer {
    this.serverFirst = serverFirst.toString();
    const fields = Object.fromEntries(this.serverFirst.split(',').map((a) => [a[0], a.slice(2)]));
    expect(fields.r.startsWith(this.clientNonce)).toBe(true);
    this.saltedPassword = pbkdf2Sync(this.password, Buffer.from(fields.s, 'base64'), Number(fields.i), 32, 'sha256');
    const withoutProof = tamper(`c=${b64(this.gs2Header)},r=${fields.r}`);
    this.authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const clientKey = HMAC(this.saltedPassword, 'Client Key');
    const proof = xor(clientKey, HMAC(H(clientKey), this.authMessage));
    return Buffer.from(`${withoutProof},p=${b64(proof)}`);
  }

  /** Checks the server's signature, as a client must before trusting the server (RFC 5802 §3). */
  verifyServerFinal(serverFinal: Buffer): boolean {
    const expected = HMAC(HMAC(this.saltedPassword, 'Server Key'), this.authMessage);
    return serverFinal.toString() === `v=${b64(expected)}`;
  }
}

const SECRET = Buffer.from('0123456789abcdef0123456789abcdef');
const users = new Map<string, ScramCredentials>([
  ['alice', credentialsFor('wonderland', randomBytes(16), 4096)],
  ['we,ird=name', credentialsFor('pw', randomBytes(16), 4096)],
]);
const server = (options: ScramServerOptions = {}): ScramServer => new ScramServer((u) => users.get(u), { secret: SECRET, ...options });

async function exchange(client: TestClient, s = server()) {
  const first = await s.start(client.first());
  if (!first.ok) return first;
  return s.finish(client.final(first.serverFirst));
}

describe('SCRAM-SHA-256 server (RFC 5802, RFC 7677)', () => {
  // RFC 7677 §3: user "user", password "pencil".
  const RFC = {
    clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
    serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
    serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
    clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
    serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
  };
  const pencil = credentialsFor('pencil', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), 4096);

  it('reproduces the RFC 7677 §3 test vector byte for byte', async () => {
    const s = new ScramServer((u) => (u === 'user' ? pencil : undefined), { serverNonce: () => RFC.serverNonce });
    const first = await s.start(Buffer.from(RFC.clientFirst));
    expect(first).toEqual({ ok: true, serverFirst: Buffer.from(RFC.serverFirst) });
    const final = s.finish(Buffer.from(RFC.clientFinal));
    expect(final).toEqual({ ok: true, username: 'user', serverFinal: Buffer.from(RFC.serverFinal) });
  });

  it('accepts a promise from the lookup as well as a plain value', async () => {
    const s = new ScramServer(async (u) => (u === 'user' ? pencil : undefined), { serverNonce: () => RFC.serverNonce });
    expect((await s.start(Buffer.from(RFC.clientFirst))).ok).toBe(true);
    expect(s.finish(Buffer.from(RFC.clientFinal)).ok).toBe(true);
  });

  it('completes a full exchange with an independent client, which verifies the server signature', async () => {
    const client = new TestClient('alice', 'wonderland');
    const s = server();
    const first = await s.start(client.first());
    expect(first.ok).toBe(true);
    if (!first.ok) return;
    // r = client nonce + at least 18 random bytes of server nonce (24 base64 characters).
    expect(first.serverFirst.toString()).toMatch(new RegExp(`^r=${client.clientNonce.replace(/[+/]/g, '\\$&')}[A-Za-z0-9+/=]{24,},s=[A-Za-z0-9+/=]+,i=4096$`));
    const final = s.finish(client.final(first.serverFirst));
    expect(final.ok).toBe(true);
    if (!final.ok) return;
    expect(final.username).toBe('alice');
    expect(client.verifyServerFinal(final.serverFinal)).toBe(true);
  });

  it('completes an exchange with a second independent client, in Python (hashlib, hmac)', async () => {
    // Python computes client-final from server-first, and the server signature it expects.
    const script = [
      'import base64, hashlib, hmac, sys',
      'bare, server_first, password = sys.argv[1], sys.argv[2], sys.argv[3]',
      'f = dict(a.split("=", 1) for a in server_first.split(","))',
      'salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(f["s"]), int(f["i"]))',
      'client_key = hmac.new(salted, b"Client Key", "sha256").digest()',
      'without_proof = "c=" + base64.b64encode(b"n,,").decode() + ",r=" + f["r"]',
      'auth = (bare + "," + server_first + "," + without_proof).encode()',
      'sig = hmac.new(hashlib.sha256(client_key).digest(), auth, "sha256").digest()',
      'proof = bytes(a ^ b for a, b in zip(client_key, sig))',
      'server_sig = hmac.new(hmac.new(salted, b"Server Key", "sha256").digest(), auth, "sha256").digest()',
      'print(without_proof + ",p=" + base64.b64encode(proof).decode())',
      'print("v=" + base64.b64encode(server_sig).decode())',
    ].join('\n');
    const s = server();
    const bare = 'n=alice,r=pyth0nNonce';
    const first = await s.start(Buffer.from(`n,,${bare}`));
    if (!first.ok) throw new Error(first.detail);
    const [clientFinal, expectedServerFinal] = execFileSync('python3', ['-c', script, bare, first.serverFirst.toString(), 'wonderland'])
      .toString()
      .trim()
      .split('\n');
    const final = s.finish(Buffer.from(clientFinal));
    expect(final.ok && final.serverFinal.toString()).toBe(expectedServerFinal);
  });

  it('gives each exchange a fresh server nonce', async () => {
    const nonces = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const r = await server().start(new TestClient('alice', 'x', 'samenonce').first());
      if (r.ok) nonces.add(r.serverFirst.toString().split(',')[0]);
    }
    expect(nonces.size).toBe(5);
  });

  it('accepts the "y,," GS2 header (client could bind, server offers no binding) when c= repeats it', async () => {
    const r = await exchange(new TestClient('alice', 'wonderland', undefined, 'y,,'));
    expect(r.ok).toBe(true);
  });

  it('accepts an authzid equal to the username', async () => {
    const r = await exchange(new TestClient('alice', 'wonderland', undefined, 'n,a=alice,'));
    expect(r.ok).toBe(true);
  });

  it('decodes =2C and =3D in the username', async () => {
    const r = await exchange(new TestClient('we,ird=name', 'pw'));
    expect(r).toMatchObject({ ok: true, username: 'we,ird=name' });
  });

  it('fails a wrong password with invalid-proof and no server signature', async () => {
    const r = await exchange(new TestClient('alice', 'wrong'));
    expect(r).toMatchObject({ ok: false, reason: 'invalid-proof', serverError: 'invalid-proof' });
    expect(r).not.toHaveProperty('serverFinal');
  });

  describe('unknown users (RFC 5802 §5.1)', () => {
    const shape = (serverFirst: Buffer): { nonceLength: number; saltLength: number; iterations: string; salt: string } => {
      const [r, s, i] = serverFirst.toString().split(',');
      return { nonceLength: r.length, saltLength: Buffer.from(s.slice(2), 'base64').length, iterations: i, salt: s };
    };

    it('answer with a server-first message of the same shape as a known user, and a stable salt', async () => {
      const known = await server().start(new TestClient('alice', 'x', 'n0nce').first());
      const unknown1 = await server().start(new TestClient('mallory', 'x', 'n0nce').first());
      const unknown2 = await server().start(new TestClient('mallory', 'x', 'n0nce').first());
      const other = await server().start(new TestClient('trent', 'x', 'n0nce').first());
      if (!known.ok || !unknown1.ok || !unknown2.ok || !other.ok) throw new Error('start failed');
      const k = shape(known.serverFirst);
      const u = shape(unknown1.serverFirst);
      expect({ ...u, salt: undefined }).toEqual({ ...k, salt: undefined });
      expect(u.salt).toBe(shape(unknown2.serverFirst).salt); // same each time: nothing to tell it apart
      expect(u.salt).not.toBe(shape(other.serverFirst).salt);
      // The fake salt depends on the server secret.
      const elsewhere = await server({ secret: randomBytes(32) }).start(new TestClient('mallory', 'x', 'n0nce').first());
      if (!elsewhere.ok) throw new Error('start failed');
      expect(shape(elsewhere.serverFirst).salt).not.toBe(u.salt);
    });

    it('fail at the proof step with the same client-visible error as a wrong password', async () => {
      const r = (await exchange(new TestClient('mallory', 'anything'))) as ScramFailure;
      expect(r).toMatchObject({ ok: false, reason: 'unknown-user', serverError: 'invalid-proof' });
    });

    it('fakeIterations sets the count shown for them', async () => {
      const r = await server({ fakeIterations: 10000 }).start(new TestClient('mallory', 'x').first());
      expect(r.ok && r.serverFirst.toString()).toMatch(/,i=10000$/);
    });

    it('a stored entry below the iteration floor is treated as unknown (never authenticates)', async () => {
      const weak = credentialsFor('pw', randomBytes(16), 1000);
      const s = new ScramServer((u) => (u === 'weak' ? weak : undefined), { secret: SECRET });
      const client = new TestClient('weak', 'pw');
      const first = await s.start(client.first());
      expect(first.ok && first.serverFirst.toString()).toMatch(/,i=4096$/);
      if (!first.ok) return;
      expect(s.finish(client.final(first.serverFirst))).toMatchObject({ ok: false, reason: 'unknown-user' });
    });
  });

  describe('malformed client-first messages fail cleanly', () => {
    const cases: [string, string | Buffer, string][] = [
      ['empty', '', 'invalid-encoding'],
      ['no GS2 header', 'n=user,r=abc', 'invalid-encoding'],
      ['unknown GS2 flag', 'x,,n=user,r=abc', 'invalid-encoding'],
      ['channel binding required (p=)', 'p=tls-server-end-point,,n=user,r=abc', 'channel-binding-not-supported'],
      ['unterminated GS2 header', 'n,', 'invalid-encoding'],
      ['malformed authzid', 'n,x=y,n=user,r=abc', 'invalid-encoding'],
      ['authzid of another user', 'n,a=admin,n=alice,r=abc', 'authzid-not-supported'],
      ['mandatory extension', 'n,,m=ext,n=user,r=abc', 'extensions-not-supported'],
      ['nonce before username', 'n,,r=abc,n=user', 'invalid-encoding'],
      ['missing nonce', 'n,,n=user', 'invalid-encoding'],
      ['missing username', 'n,,r=abc', 'invalid-encoding'],
      ['empty username', 'n,,n=,r=abc', 'invalid-username-encoding'],
      ['bad = escape in username', 'n,,n=a=2Db,r=abc', 'invalid-username-encoding'],
      ['prohibited character in username (SASLprep)', 'n,,n=us\u0007er,r=abc', 'invalid-username-encoding'],
      ['empty nonce', 'n,,n=user,r=', 'invalid-encoding'],
      ['non-printable nonce', 'n,,n=user,r=ab c', 'invalid-encoding'],
      ['malformed extension', 'n,,n=user,r=abc,1=x', 'invalid-encoding'],
      ['not UTF-8', Buffer.from([0x6e, 0x2c, 0x2c, 0x6e, 0x3d, 0xff, 0xfe, 0x2c, 0x72, 0x3d, 0x61]), 'invalid-encoding'],
      ['oversized (2 KiB)', `n,,n=user,r=${'a'.repeat(2048)}`, 'message-too-long'],
      ['username over 256 bytes', `n,,n=${'u'.repeat(300)},r=abc`, 'username-too-long'],
    ];
    it.each(cases)('%s', async (_name, message, reason) => {
      const s = server();
      const r = await s.start(Buffer.isBuffer(message) ? message : Buffer.from(message));
      expect(r).toMatchObject({ ok: false, reason });
      // The exchange is over: a retry on the same object is refused.
      expect(await s.start(Buffer.from('n,,n=alice,r=abc'))).toMatchObject({ ok: false, reason: 'bad-state' });
    });
  });

  describe('malformed client-final messages fail cleanly', () => {
    const client = new TestClient('alice', 'wonderland', 'clientnonce');
    /** Runs start, then `mutate` of a correct client-final. */
    async function finishWith(mutate: (correct: string, nonce: string) => string | Buffer, options: ScramServerOptions = {}) {
      const s = server({ serverNonce: () => 'SERVERNONCE', ...options });
      const first = await s.start(client.first());
      if (!first.ok) throw new Error('start failed');
      const correct = client.final(first.serverFirst).toString();
      const message = mutate(correct, 'clientnonceSERVERNONCE');
      return s.finish(Buffer.isBuffer(message) ? message : Buffer.from(message));
    }
    const cases: [string, (m: string, nonce: string) => string | Buffer, string][] = [
      ['missing proof', (m) => m.slice(0, m.indexOf(',p=')), 'invalid-encoding'],
      ['attributes out of order', (m) => { const [c, r, p] = m.split(','); return [r, c, p].join(','); }, 'invalid-encoding'],
      ['repeated attribute', (m) => m.replace(',p=', ',r=x,p='), 'invalid-encoding'],
      ['bad base64 in c=', (m) => m.replace('c=biws', 'c=bi!s'), 'invalid-encoding'],
      ['channel binding mismatch (y,, instead of n,,)', (m) => m.replace('c=biws', `c=${b64('y,,')}`), 'channel-bindings-dont-match'],
      ['channel binding with data', (m) => m.replace('c=biws', `c=${b64('n,,xyz')}`), 'channel-bindings-dont-match'],
      ['nonce without the server part', (m, n) => m.replace(`r=${n}`, 'r=clientnonce'), 'nonce-mismatch'],
      ['nonce with a different client part', (m, n) => m.replace(`r=${n}`, 'r=otherSERVERNONCE'), 'nonce-mismatch'],
      ['nonce with extra characters', (m, n) => m.replace(`r=${n}`, `r=${n}x`), 'nonce-mismatch'],
      ['proof not base64', (m) => m.replace(/p=.*$/, 'p=%%%%'), 'invalid-encoding'],
      ['proof of 31 bytes', (m) => m.replace(/p=.*$/, `p=${b64(randomBytes(31))}`), 'invalid-encoding'],
      // 32 bytes leave 2 unused bits in the last character; setting one decodes to the same bytes.
      ['proof in non-canonical base64', (m) => m.replace(/.=$/, (t) => `${ALPHABET[ALPHABET.indexOf(t[0]) | 1]}=`), 'invalid-encoding'],
      ['proof flipped', (m) => m.replace(/p=(.)/, (_t, ch: string) => `p=${ch === 'A' ? 'B' : 'A'}`), 'invalid-proof'],
      ['oversized (4 KiB)', (m) => m.replace(',p=', `,x=${'a'.repeat(4096)},p=`), 'message-too-long'],
      ['not UTF-8 (in an extension value)', (m) => Buffer.from(m.replace(',p=', ',x=\u00ff,p='), 'latin1'), 'invalid-encoding'],
    ];
    it.each(cases)('%s', async (_name, mutate, reason) => {
      const r = await finishWith(mutate);
      expect(r).toMatchObject({ ok: false, reason });
    });

    it('ignores a well-formed optional extension before the proof if the proof covers it', async () => {
      const s = server();
      const first = await s.start(client.first());
      if (!first.ok) throw new Error('start failed');
      const r = s.finish(client.final(first.serverFirst, (w) => `${w},x=extension`));
      expect(r.ok).toBe(true);
    });
  });

  it('refuses calls out of order, and a second finish', async () => {
    const s = server();
    expect(s.finish(Buffer.from('c=biws,r=a,p=b'))).toMatchObject({ ok: false, reason: 'bad-state' });
    const client = new TestClient('alice', 'wonderland');
    const s2 = server();
    const first = await s2.start(client.first());
    if (!first.ok) throw new Error('start failed');
    expect(await s2.start(client.first())).toMatchObject({ ok: false, reason: 'bad-state' });
    const final = client.final(first.serverFirst);
    expect(s2.finish(final).ok).toBe(true);
    expect(s2.finish(final)).toMatchObject({ ok: false, reason: 'bad-state' });
  });

  it('a lookup that throws or rejects is a failure, not an exception', async () => {
    const thrower = new ScramServer(() => {
      throw new Error('db down');
    });
    expect(await thrower.start(Buffer.from('n,,n=u,r=abc'))).toMatchObject({ ok: false, reason: 'lookup-failed' });
    const rejecter = new ScramServer(() => Promise.reject(new Error('db down')));
    expect(await rejecter.start(Buffer.from('n,,n=u,r=abc'))).toMatchObject({ ok: false, reason: 'lookup-failed' });
  });

  it('never throws on random input (bounded fuzz of both steps)', async () => {
    const seeds = ['n,,n=alice,r=', 'y,,n=', 'c=biws,r=', 'p=', '=2C', ',,,,'];
    for (let i = 0; i < 300; i++) {
      const junk = Buffer.concat([Buffer.from(seeds[i % seeds.length]), randomBytes(i % 40)]);
      const s = server();
      const first = await s.start(junk);
      expect(typeof first.ok).toBe('boolean');
      const s2 = server();
      await s2.start(Buffer.from('n,,n=alice,r=abc'));
      expect(s2.finish(junk).ok).toBe(false);
    }
  });
});

describe('SASLprep (RFC 4013 §3 examples)', () => {
  it.each([
    ['I\u00ADX', 'IX'],
    ['user', 'user'],
    ['USER', 'USER'],
    ['\u00AA', 'a'],
    ['\u2168', 'IX'],
    ['a\u00A0b', 'a b'],
    ['\u05D0\u05D1', '\u05D0\u05D1'],
  ])('%j -> %j', (input, output) => {
    expect(saslprep(input)).toEqual({ ok: true, value: output });
  });
  it.each([
    ['\u0007', /prohibited/],
    ['\u0627\u0031', /right-to-left/],
    ['\u05D0a\u05D1', /mixes/],
    ['a\uE000', /prohibited/],
    ['\u00AD', /empty/],
  ])('%j fails', (input, reason) => {
    const r = saslprep(input);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(reason);
  });
  it('refuses unassigned code points only for stored strings', () => {
    expect(saslprep('a\u{E0080}b').ok).toBe(true); // unassigned, outside every prohibited table
    expect(saslprep('a\u{E0080}b', true)).toMatchObject({ ok: false, reason: expect.stringMatching(/unassigned/) });
  });
});

describe('stored SCRAM secrets (PostgreSQL format) and verifyPassword', () => {
  // RFC 7677's "pencil" credentials, as PostgreSQL would store them.
  const PENCIL = 'SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=';

  it('derives, formats and parses the RFC 7677 credentials', () => {
    const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
    const derived = deriveScramCredentials('pencil', 4096, salt);
    expect(derived).toEqual(credentialsFor('pencil', salt, 4096));
    expect(formatScramSecret(derived)).toBe(PENCIL);
    expect(parseScramSecret(PENCIL)).toEqual(derived);
  });

  it('hashFormat knows it; verifyPassword accepts the right password and refuses others', async () => {
    expect(hashFormat(PENCIL)).toBe('scram-sha-256');
    expect(await verifyPassword(Buffer.from('pencil'), PENCIL)).toBe(true);
    expect(await verifyPassword(Buffer.from('pencil '), PENCIL)).toBe(false);
    expect(await verifyPassword(Buffer.from(''), PENCIL)).toBe(false);
    expect(await verifyPassword(Buffer.from([0xff, 0xfe]), PENCIL)).toBe(false);
  });

  it('verifyPassword SASLpreps the password as a SCRAM client would', async () => {
    const stored = formatScramSecret(deriveScramCredentials('I\u00ADX\u00A0y', 4096));
    expect(await verifyPassword(Buffer.from('IX y'), stored)).toBe(true);
    expect(await verifyPassword(Buffer.from('I\u00ADX\u00A0y'), stored)).toBe(true);
    expect(await verifyPassword(Buffer.from('IXy'), stored)).toBe(false);
  });

  it.each([
    ['below 4096 iterations', PENCIL.replace('$4096:', '$4095:')],
    ['lower-case prefix', PENCIL.replace('SCRAM-SHA-256', 'scram-sha-256')],
    ['short StoredKey', PENCIL.replace('$WG5d8', '$WG5d')],
    ['non-canonical salt', PENCIL.replace('gQ==', 'gR==')],
    ['empty salt', PENCIL.replace('W22ZaJ0SNY7soEsUEjb6gQ==', '')],
  ])('refuses a secret with %s', (_name, secret) => {
    expect(parseScramSecret(secret)).toBeUndefined();
    expect(hashFormat(secret)).toBeUndefined();
  });

  it('a password file line holds it (the username ends at the first colon)', () => {
    const { users: u, problems } = parsePasswordFile(`user:${PENCIL}\nweak:${PENCIL.replace('$4096:', '$1000:')}\n`);
    expect(u.get('user')).toBe(PENCIL);
    expect(problems).toEqual([expect.stringMatching(/"weak" has a password in an unsupported format/)]);
  });

  it('credentials from a file line drive a SCRAM exchange', async () => {
    const entries = parsePasswordFile(`user:${PENCIL}\n`).users;
    const s = new ScramServer((name) => {
      const stored = entries.get(name);
      return stored === undefined ? undefined : parseScramSecret(stored);
    });
    const r = await exchange(new TestClient('user', 'pencil'), s);
    expect(r.ok).toBe(true);
  });
});
