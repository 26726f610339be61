/**
 * SHA-512-crypt (`$6$[rounds=N$]salt$hash`), Ulrich Drepper's "Unix crypt using SHA-256 and
 * SHA-512" (the scheme glibc's crypt(3), Python's `crypt.METHOD_SHA512` and so hbmqtt's
 * password files use), written from the specification on top of node:crypto.
 *
 * Only for verifying hashes users migrate from hbmqtt; nestmq itself writes bcrypt.
 */
import { createHash } from 'node:crypto';

const ROUNDS_DEFAULT = 5000;
const ROUNDS_MIN = 1000;
const ROUNDS_MAX = 999_999_999;
const SALT_MAX = 16;
/** crypt(3)'s base-64 alphabet (not RFC 4648's). */
const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

export interface ShaCryptParts {
  /** Rounds as the hash states them (clamped as the algorithm does), or the default. */
  rounds: number;
  /** Whether `rounds=` was written (it then appears in the output too). */
  roundsGiven: boolean;
  salt: string;
  hash: string;
}

/** Splits `$6$[rounds=N$]salt$hash`; undefined when the string is not of that shape. */
export function parseSha512Crypt(stored: string): ShaCryptParts | undefined {
  if (!stored.startsWith('$6$')) return undefined;
  const fields = stored.slice(3).split('$');
  let rounds = ROUNDS_DEFAULT;
  let roundsGiven = false;
  if (fields.length === 3 && fields[0].startsWith('rounds=')) {
    const n = Number(fields[0].slice(7));
    if (!/^[0-9]+$/.test(fields[0].slice(7)) || !Number.isSafeInteger(n)) return undefined;
    rounds = Math.min(ROUNDS_MAX, Math.max(ROUNDS_MIN, n));
    roundsGiven = true;
    fields.shift();
  }
  if (fields.length !== 2) return undefined;
  const [salt, hash] = fields;
  if (!/^[./0-9A-Za-z]{86}$/.test(hash)) return undefined;
  return { rounds, roundsGiven, salt: salt.slice(0, SALT_MAX), hash };
}

type CreateHash = typeof createHash;

/**
 * The 64-byte digest of the algorithm's steps 1-21. Self-contained on purpose (everything it
 * uses is a parameter or declared inside), so that crypt-worker.ts can run its source text in a
 * worker thread; `hash` is node:crypto's createHash.
 */
export function sha512CryptDigest(hash: CreateHash, password: Buffer, salt: Buffer, rounds: number): Buffer {
  const repeatTo = (block: Buffer, len: number): Buffer => {
    const out = Buffer.allocUnsafe(len);
    for (let i = 0; i < len; i += block.length) block.copy(out, i, 0, Math.min(block.length, len - i));
    return out;
  };
  const pLen = password.length;
  // Digest B: password, salt, password.
  const b = hash('sha512').update(password).update(salt).update(password).digest();
  // Digest A: password, salt, then B for each byte of the password, then per bit of its length.
  const a = hash('sha512').update(password).update(salt);
  let n = pLen;
  for (; n > 64; n -= 64) a.update(b);
  a.update(b.subarray(0, n));
  for (n = pLen; n > 0; n >>= 1) a.update(n & 1 ? b : password);
  let c = a.digest();
  // P sequence: digest of the password repeated pLen times, stretched to pLen bytes.
  const dp = hash('sha512');
  for (let i = 0; i < pLen; i++) dp.update(password);
  const p = repeatTo(dp.digest(), pLen);
  // S sequence: digest of the salt repeated 16 + A[0] times, stretched to the salt's length.
  const ds = hash('sha512');
  for (let i = 0, k = 16 + c[0]; i < k; i++) ds.update(salt);
  const s = repeatTo(ds.digest(), salt.length);
  for (let i = 0; i < rounds; i++) {
    const h = hash('sha512');
    h.update(i & 1 ? p : c);
    if (i % 3 !== 0) h.update(s);
    if (i % 7 !== 0) h.update(p);
    h.update(i & 1 ? c : p);
    c = h.digest();
  }
  return c;
}

/** Encodes the final digest in crypt's byte order and alphabet (86 characters). */
export function encodeSha512CryptDigest(d: Buffer): string {
  let out = '';
  const put = (b2: number, b1: number, b0: number, n: number): void => {
    let w = (b2 << 16) | (b1 << 8) | b0;
    for (let i = 0; i < n; i++) {
      out += ITOA64[w & 0x3f];
      w >>>= 6;
    }
  };
  // Groups (k, k+21, k+42) rotated by k mod 3, as the specification lists them.
  for (let k = 0; k < 21; k++) {
    const t = [d[k], d[k + 21], d[k + 42]];
    const r = k % 3;
    put(t[r], t[(r + 1) % 3], t[(r + 2) % 3], 4);
  }
  put(0, 0, d[63], 2);
  return out;
}

/** The full `$6$...` string for a password and salt (salt truncated to 16 characters). */
export function sha512Crypt(password: Buffer | string, salt: string, rounds?: number): string {
  const pw = typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
  const s = salt.slice(0, SALT_MAX);
  const r = rounds === undefined ? ROUNDS_DEFAULT : Math.min(ROUNDS_MAX, Math.max(ROUNDS_MIN, rounds));
  const digest = sha512CryptDigest(createHash, pw, Buffer.from(s, 'utf8'), r);
  return `$6$${rounds === undefined ? '' : `rounds=${r}$`}${s}$${encodeSha512CryptDigest(digest)}`;
}
