import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashFormat, hashPassword, verifyPassword } from '../../src/core/auth/hashes';
import { sha512CryptDigestAsync, stopCryptWorker } from '../../src/core/auth/crypt-worker';
import { parsePasswordFile } from '../../src/core/auth/password-file';
import { parseSha512Crypt, sha512Crypt, sha512CryptDigest } from '../../src/core/auth/sha512-crypt';
import { createHash } from 'node:crypto';

const dir = mkdtempSync(join(tmpdir(), 'nestmq-hash-'));

/** sha512-crypt as hbmqtt's docs made it: Python's crypt module (glibc). */
function pythonCrypt(password: string, salt?: string): string {
  const script = 'import crypt, sys; print(crypt.crypt(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else crypt.mksalt(crypt.METHOD_SHA512)))';
  return execFileSync('python3', ['-W', 'ignore', '-c', script, password, ...(salt === undefined ? [] : [salt])]).toString().trim();
}

let seq = 0;
/** A real mosquitto_passwd line's hash: $7$ by default, $6$ with -H sha512. */
function mosquittoHash(password: string, algorithm?: 'sha512' | 'sha512-pbkdf2'): string {
  const file = join(dir, `pw${++seq}`);
  execFileSync('mosquitto_passwd', [...(algorithm ? ['-H', algorithm] : []), '-c', '-b', file, 'u', password]);
  return readFileSync(file, 'utf8').trim().slice('u:'.length);
}

const pw = (s: string): Buffer => Buffer.from(s, 'utf8');

afterAll(() => stopCryptWorker());

describe('sha512-crypt ($6$, hbmqtt) implemented on node:crypto', () => {
  it('reproduces the test vectors of Drepper\'s specification', () => {
    expect(sha512Crypt('Hello world!', 'saltstring')).toBe(
      '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1',
    );
    expect(sha512Crypt('Hello world!', 'saltstringsaltstring', 10000)).toBe(
      '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.',
    );
  });

  it('clamps rounds below 1000 to 1000, as the specification says', () => {
    expect(sha512Crypt('we have a short salt string but not a short password', 'roundstoolow', 10)).toBe(
      pythonCrypt('we have a short salt string but not a short password', '$6$rounds=1000$roundstoolow'),
    );
  });

  it('matches Python crypt output byte for byte, for fresh random salts and chosen ones', () => {
    const cases: [string, string | undefined][] = [
      ['secret', undefined],
      ['', undefined],
      ['pässwörd ✓', undefined],
      ['x'.repeat(150), undefined],
      ['colon:in:it', '$6$rounds=2000$abc'],
      ['p', '$6$a'],
    ];
    for (const [password, salt] of cases) {
      const py = pythonCrypt(password, salt);
      const parts = parseSha512Crypt(py)!;
      expect(parts).toBeDefined();
      expect(sha512Crypt(password, parts.salt, parts.roundsGiven ? parts.rounds : undefined)).toBe(py);
    }
  });

  it('verifies python-made hashes: right password true, wrong false', async () => {
    const h = pythonCrypt('hbmqtt-user');
    expect(hashFormat(h)).toBe('sha512-crypt');
    expect(await verifyPassword(pw('hbmqtt-user'), h)).toBe(true);
    expect(await verifyPassword(pw('hbmqtt-usr'), h)).toBe(false);
    expect(await verifyPassword(pw(''), h)).toBe(false);
  });

  it('verifies openssl passwd -6 hashes too', async () => {
    const h = execFileSync('openssl', ['passwd', '-6', 'open sesame']).toString().trim();
    expect(await verifyPassword(pw('open sesame'), h)).toBe(true);
    expect(await verifyPassword(pw('open sesamE'), h)).toBe(false);
  });

  it('runs in a worker thread and gives the same digest as inline', async () => {
    const salt = Buffer.from('0123456789abcdef');
    const inline = sha512CryptDigest(createHash, pw('pw'), salt, 5000);
    const results = await Promise.all([1, 2, 3].map(() => sha512CryptDigestAsync(pw('pw'), salt, 5000)));
    for (const r of results) expect(r.equals(inline)).toBe(true);
  });
});

describe('Mosquitto hash formats, from real mosquitto_passwd output', () => {
  it('$7$ (PBKDF2-SHA512, mosquitto 2 default): right password true, wrong false', async () => {
    const h = mosquittoHash('mosq-pw');
    expect(h).toMatch(/^\$7\$\d+\$/);
    expect(hashFormat(h)).toBe('mosquitto-pbkdf2');
    expect(await verifyPassword(pw('mosq-pw'), h)).toBe(true);
    expect(await verifyPassword(pw('mosq-pW'), h)).toBe(false);
  });

  it('$6$ of mosquitto_passwd -H sha512 (base64 salt and sha512(password+salt), not sha512-crypt)', async () => {
    const h = mosquittoHash('old-mosq', 'sha512');
    expect(h).toMatch(/^\$6\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]{86}==$/);
    expect(hashFormat(h)).toBe('mosquitto-sha512');
    expect(await verifyPassword(pw('old-mosq'), h)).toBe(true);
    expect(await verifyPassword(pw('old-mosq '), h)).toBe(false);
  });

  it('unicode passwords verify in each mosquitto format', async () => {
    for (const alg of ['sha512', 'sha512-pbkdf2'] as const) {
      const h = mosquittoHash('ünïcødé', alg);
      expect(await verifyPassword(pw('ünïcødé'), h)).toBe(true);
      expect(await verifyPassword(pw('unicode'), h)).toBe(false);
    }
  });
});

describe('bcrypt ($2a$, $2b$, $2y$)', () => {
  it('each prefix verifies the right password and refuses a wrong one', async () => {
    const h = await hashPassword('bc-pw', 4);
    expect(h).toMatch(/^\$2b\$04\$/);
    for (const prefix of ['$2a$', '$2b$', '$2y$']) {
      const variant = prefix + h.slice(4);
      expect(hashFormat(variant)).toBe('bcrypt');
      expect(await verifyPassword(pw('bc-pw'), variant)).toBe(true);
      expect(await verifyPassword(pw('bc-pW'), variant)).toBe(false);
    }
  });

  it('binary passwords (MQTT passwords are bytes) are compared as bytes', async () => {
    const bytes = Buffer.from([0xff, 0x00, 0x80, 0x41]);
    const h = await hashPassword(bytes, 4);
    expect(await verifyPassword(bytes, h)).toBe(true);
    expect(await verifyPassword(Buffer.from([0xff, 0x00, 0x80, 0x42]), h)).toBe(false);
  });
});

describe('hash format detection', () => {
  it.each([
    ['plaintext', undefined],
    ['$1$salt$qJH7.N4xYta3aEG/dfqo/0', undefined], // md5-crypt
    ['$5$salt$Gcm6FsVtF/Qa77ZKD.iwsJlCVPY0XSMgLJL0Hnww/c1', undefined], // sha256-crypt
    ['$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA', undefined],
    ['$2b$04$' + 'a'.repeat(52), undefined], // one character short
    ['$2x$04$' + 'a'.repeat(53), undefined],
    ['$6$abc$' + 'a'.repeat(86), 'sha512-crypt'],
    ['$6$rounds=9000$abc$' + 'a'.repeat(86), 'sha512-crypt'],
    ['$6$rounds=x$abc$' + 'a'.repeat(86), undefined],
    ['$6$c2FsdHNhbHRzYWx0$' + 'A'.repeat(86) + '==', 'mosquitto-sha512'],
    ['$7$101$c2FsdHNhbHRzYWx0$' + 'A'.repeat(86) + '==', 'mosquitto-pbkdf2'],
    ['$7$0$c2FsdA==$' + 'A'.repeat(86) + '==', undefined],
  ])('%s -> %s', async (stored, format) => {
    expect(hashFormat(stored)).toBe(format);
    if (format === undefined) expect(await verifyPassword(pw('plaintext'), stored)).toBe(false);
  });
});

describe('password file parsing', () => {
  it('reads username:hash lines; skips comments, blanks, CRs; reports bad lines without their hash', () => {
    const bc = '$2b$04$' + 'a'.repeat(53);
    const text = [
      '# users',
      '',
      `alice:${bc}\r`,
      `  bob:${bc}  `,
      'carol',
      'dave:plaintext-password',
      `alice:${bc.replace('a', 'b')}`,
      `:${bc}`,
      `with space:${bc}`,
    ].join('\n');
    const { users, problems } = parsePasswordFile(text, 'pw.txt');
    expect([...users.keys()]).toEqual(['alice', 'bob', 'with space']);
    expect(users.get('alice')).toBe(bc.replace('a', 'b')); // the last line wins
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(/^pw\.txt:5: expected username:hash/);
    expect(problems[1]).toMatch(/^pw\.txt:6: user "dave" has a password in an unsupported format/);
    expect(problems[2]).toMatch(/^pw\.txt:7: user "alice" appears again/);
    expect(problems[3]).toMatch(/^pw\.txt:8: expected username:hash/);
    expect(problems.join('\n')).not.toContain('plaintext-password');
  });
});
