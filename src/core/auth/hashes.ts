/**
 * Password hash formats accepted in a password file, and their verification. Every comparison
 * is constant-time (crypto.timingSafeEqual, or bcrypt's own); the slow work runs off the event
 * loop (bcrypt and PBKDF2 in libuv's thread pool, SHA-512-crypt in a worker thread).
 *
 *   $2a$ $2b$ $2y$          bcrypt (what `nestmq passwd` writes)
 *   $6$[rounds=N$]salt$h    SHA-512-crypt, as hbmqtt's docs made them (Python crypt / mkpasswd)
 *   $6$b64salt$b64hash      Mosquitto's "sha512": base64(sha512(password + salt)) (mosquitto_passwd -H sha512)
 *   $7$iter$b64salt$b64hash Mosquitto 2's default: PBKDF2-HMAC-SHA512 (mosquitto_passwd)
 *   SCRAM-SHA-256$iter:salt$StoredKey:ServerKey  PostgreSQL's SCRAM secret (`nestmq passwd --scram`, docs/scram.md)
 */
import { createHash, pbkdf2, timingSafeEqual } from 'node:crypto';
import { sha512CryptDigestAsync } from './crypt-worker';
import { parseScramSecret, verifyScramPassword } from './scram';
import { encodeSha512CryptDigest, parseSha512Crypt } from './sha512-crypt';

// bcrypt is a native module: loaded on first use, so that a broker without auth.file never needs it.
type Bcrypt = { compare(data: string | Buffer, encrypted: string): Promise<boolean>; hash(data: string | Buffer, rounds: number): Promise<string> };
let bcryptModule: Bcrypt | null = null;
export function bcrypt(): Bcrypt {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  bcryptModule ??= require('bcrypt') as Bcrypt;
  return bcryptModule;
}

export type HashFormat = 'bcrypt' | 'sha512-crypt' | 'mosquitto-sha512' | 'mosquitto-pbkdf2' | 'scram-sha-256';

const BCRYPT = /^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$/;
const MOSQUITTO_SHA512 = /^\$6\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]{86}==)$/;
const MOSQUITTO_PBKDF2 = /^\$7\$([1-9][0-9]{0,8})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]{86}==)$/;

/** The format of a stored hash, or undefined for anything we do not verify (plain text, $1$, $5$, argon2...). */
export function hashFormat(stored: string): HashFormat | undefined {
  if (BCRYPT.test(stored)) return 'bcrypt';
  // Mosquitto's $6$ has an 88-character standard-base64 hash, crypt's an 86-character one in
  // crypt's alphabet: the two can never be confused.
  if (MOSQUITTO_SHA512.test(stored)) return 'mosquitto-sha512';
  if (parseSha512Crypt(stored) !== undefined) return 'sha512-crypt';
  if (MOSQUITTO_PBKDF2.test(stored)) return 'mosquitto-pbkdf2';
  if (parseScramSecret(stored) !== undefined) return 'scram-sha-256';
  return undefined;
}

/** Constant-time equality of two byte strings (lengths are not secret: they are fixed per format). */
export function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function pbkdf2Async(password: Buffer, salt: Buffer, iterations: number, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    pbkdf2(password, salt, iterations, length, 'sha512', (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/**
 * Does `password` match `stored`? Resolves false for a mismatch and for a format we do not know;
 * never rejects for a wrong password.
 */
export async function verifyPassword(password: Buffer, stored: string): Promise<boolean> {
  switch (hashFormat(stored)) {
    case 'bcrypt':
      // $2y$ (PHP, htpasswd) is the same algorithm as $2b$; the bcrypt module knows only $2a$/$2b$.
      return bcrypt().compare(password, stored.startsWith('$2y$') ? `$2b$${stored.slice(4)}` : stored);
    case 'mosquitto-sha512': {
      const m = MOSQUITTO_SHA512.exec(stored)!;
      const digest = createHash('sha512').update(password).update(Buffer.from(m[1], 'base64')).digest();
      return constantTimeEqual(digest, Buffer.from(m[2], 'base64'));
    }
    case 'mosquitto-pbkdf2': {
      const m = MOSQUITTO_PBKDF2.exec(stored)!;
      const expected = Buffer.from(m[3], 'base64');
      const key = await pbkdf2Async(password, Buffer.from(m[2], 'base64'), Number(m[1]), expected.length);
      return constantTimeEqual(key, expected);
    }
    case 'sha512-crypt': {
      const parts = parseSha512Crypt(stored)!;
      const digest = await sha512CryptDigestAsync(password, Buffer.from(parts.salt, 'utf8'), parts.rounds);
      return constantTimeEqual(Buffer.from(encodeSha512CryptDigest(digest)), Buffer.from(parts.hash));
    }
    case 'scram-sha-256':
      return verifyScramPassword(password, parseScramSecret(stored)!);
    default:
      return false;
  }
}

/** A bcrypt hash (`$2b$`) of the password at the given cost. */
export function hashPassword(password: string | Buffer, cost: number): Promise<string> {
  return bcrypt().hash(password, cost);
}
