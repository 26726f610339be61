/**
 * SCRAM-SHA-256 (RFC 5802 with RFC 7677's hash), server side: the mechanism behind MQTT 5's
 * enhanced authentication with Authentication Method "SCRAM-SHA-256". Framework-free and
 * transport-free: it takes the client's messages as bytes and returns the server's. See
 * docs/scram.md for the stored format, the tool and the MQTT message flow.
 *
 *   client-first  n,,n=user,r=<client nonce>                       (CONNECT Authentication Data)
 *   server-first  r=<client nonce><server nonce>,s=<salt>,i=<iter> (AUTH 0x18 Continue authentication)
 *   client-final  c=biws,r=<both nonces>,p=<ClientProof>           (AUTH 0x18)
 *   server-final  v=<ServerSignature>                              (CONNACK 0x00 Authentication Data)
 *
 * With the stored StoredKey = H(HMAC(SaltedPassword, "Client Key")) and ServerKey =
 * HMAC(SaltedPassword, "Server Key"), where SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt,
 * iterations) (RFC 5802 §3), the server never sees or stores the password.
 *
 * One ScramServer per exchange (per connection attempt): new -> start() -> finish() -> done.
 * Every failure is a returned value, never a throw, and ends the exchange.
 *
 * Unknown users (RFC 5802 §5.1's advice): the server-first message carries a salt derived from a
 * server secret and the username (HMAC), so it is stable across attempts and has the shape and
 * iteration count of a real one; the proof step then runs the same computation against a
 * derived StoredKey and fails. Until the end of the exchange an unknown user looks like a known
 * one with a wrong password.
 */
import { createHash, createHmac, pbkdf2, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { TextDecoder } from 'node:util';
import { saslprep } from './saslprep';

/** What is stored for a user (RFC 5802 §3): enough to verify a proof, not to compute one. */
export interface ScramCredentials {
  salt: Buffer;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
}

export type ScramLookup = (username: string) => ScramCredentials | undefined | Promise<ScramCredentials | undefined>;

export interface ScramServerOptions {
  /**
   * Key for the fake salts and keys of unknown users. Give a persistent secret so that an unknown
   * user's salt does not change across restarts; default: random once per process.
   */
  secret?: Buffer;
  /** Stored credentials below this count are refused (treated as an unknown user). Default 4096 (RFC 7677 §4). */
  minIterations?: number;
  /** The iteration count shown for unknown users: set it to the count your entries use. Default 4096. */
  fakeIterations?: number;
  /** Largest client message accepted, in bytes. Default 1024. */
  maxMessageBytes?: number;
  /** Largest username accepted, in UTF-8 bytes after unescaping. Default 256. */
  maxUsernameBytes?: number;
  /** The server's part of the nonce; for tests (RFC 7677's vector). Default: 24 random bytes, base64. */
  serverNonce?: () => string;
}

/**
 * Why an exchange failed, for logs. `unknown-user` and `invalid-proof` must be answered alike
 * (same MQTT reason code, same serverError): only the server may know which it was.
 */
export type ScramFailureReason =
  | 'bad-state'
  | 'message-too-long'
  | 'invalid-encoding'
  | 'extensions-not-supported'
  | 'channel-binding-not-supported'
  | 'channel-bindings-dont-match'
  | 'invalid-username-encoding'
  | 'username-too-long'
  | 'authzid-not-supported'
  | 'lookup-failed'
  | 'nonce-mismatch'
  | 'invalid-proof'
  | 'unknown-user';

/** RFC 5802 §7 server-error-value: what a client may be told (`e=` + this as server-final). */
export type ScramServerError =
  | 'invalid-encoding'
  | 'extensions-not-supported'
  | 'invalid-proof'
  | 'channel-bindings-dont-match'
  | 'channel-binding-not-supported'
  | 'invalid-username-encoding'
  | 'other-error';

export interface ScramFailure {
  ok: false;
  reason: ScramFailureReason;
  /** Human-readable, for logs; never contains a proof or key. */
  detail: string;
  serverError: ScramServerError;
}

export type ScramStartResult = { ok: true; serverFirst: Buffer } | ScramFailure;
export type ScramFinishResult = { ok: true; username: string; serverFinal: Buffer } | ScramFailure;

export const SCRAM_MECHANISM = 'SCRAM-SHA-256';
export const SCRAM_MIN_ITERATIONS = 4096;
/** Upper bound of a stored iteration count: verifyPassword runs PBKDF2 with it (about 3 s at this count). */
export const SCRAM_MAX_ITERATIONS = 10_000_000;
export const SCRAM_SALT_BYTES = 16;
const KEY_BYTES = 32;
const DEFAULT_MAX_MESSAGE_BYTES = 1024;
const DEFAULT_MAX_USERNAME_BYTES = 256;
const SERVER_NONCE_BYTES = 24;

const PROCESS_SECRET = randomBytes(32);
const UTF8 = new TextDecoder('utf-8', { fatal: true });
// printable = %x21-2B / %x2D-7E (RFC 5802 §7): what a nonce is made of.
const NONCE = /^[\x21-\x2B\x2D-\x7E]+$/;
// saslname: UTF-8 except NUL, ',' and '=' (the latter two escaped as =2C and =3D).
const SASLNAME = /^(?:[^\0,=]|=2C|=3D)+$/u;
const ATTR = /^[A-Za-z]=/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict (canonical, padded) base64 to bytes, or undefined. */
function decodeBase64(text: string): Buffer | undefined {
  if (!BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  // Non-zero unused bits in the last character decode to the same bytes: refuse them.
  return bytes.toString('base64') === text ? bytes : undefined;
}

function fail(reason: ScramFailureReason, detail: string, serverError: ScramServerError = 'other-error'): ScramFailure {
  return { ok: false, reason, detail, serverError };
}

const hmac = (key: Buffer, data: string | Buffer): Buffer => createHmac('sha256', key).update(data).digest();
const sha256 = (data: Buffer): Buffer => createHash('sha256').update(data).digest();

/** StoredKey and ServerKey from SaltedPassword (RFC 5802 §3). */
function keysFromSaltedPassword(saltedPassword: Buffer): { storedKey: Buffer; serverKey: Buffer } {
  return { storedKey: sha256(hmac(saltedPassword, 'Client Key')), serverKey: hmac(saltedPassword, 'Server Key') };
}

type State = 'new' | 'starting' | 'started' | 'done';

export class ScramServer {
  private state: State = 'new';
  private readonly secret: Buffer;
  private readonly minIterations: number;
  private readonly fakeIterations: number;
  private readonly maxMessageBytes: number;
  private readonly maxUsernameBytes: number;
  private readonly serverNonce: () => string;
  private gs2Header = '';
  private clientFirstBare = '';
  private serverFirst = '';
  private nonce = '';
  private username = '';
  /** False for an unknown user (or an unusable stored entry): the proof step then always fails. */
  private known = false;
  private storedKey: Buffer = Buffer.alloc(0);
  private serverKey: Buffer = Buffer.alloc(0);

  constructor(
    private readonly lookup: ScramLookup,
    options: ScramServerOptions = {},
  ) {
    this.secret = options.secret ?? PROCESS_SECRET;
    this.minIterations = options.minIterations ?? SCRAM_MIN_ITERATIONS;
    this.fakeIterations = options.fakeIterations ?? SCRAM_MIN_ITERATIONS;
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.maxUsernameBytes = options.maxUsernameBytes ?? DEFAULT_MAX_USERNAME_BYTES;
    this.serverNonce = options.serverNonce ?? (() => randomBytes(SERVER_NONCE_BYTES).toString('base64'));
  }

  /** Takes client-first-message, answers server-first-message. Never rejects. */
  async start(clientFirstMessage: Buffer): Promise<ScramStartResult> {
    if (this.state !== 'new') return fail('bad-state', `start() called in state ${this.state}`);
    this.state = 'starting';
    try {
      const parsed = this.parseClientFirst(clientFirstMessage);
      if (parsed !== undefined) return this.end(parsed);
      let credentials: ScramCredentials | undefined;
      try {
        credentials = await this.lookup(this.username);
      } catch (err) {
        return this.end(fail('lookup-failed', `credential lookup failed: ${(err as Error)?.message ?? String(err)}`));
      }
      let salt: Buffer;
      let iterations: number;
      if (credentials !== undefined && this.usable(credentials)) {
        this.known = true;
        salt = credentials.salt;
        iterations = credentials.iterations;
        this.storedKey = credentials.storedKey;
        this.serverKey = credentials.serverKey;
      } else {
        // RFC 5802 §5.1: answer as if the user existed, with a salt that stays the same for this
        // username (a fresh random one on each attempt would give it away).
        this.known = false;
        salt = hmac(this.secret, `nestmq-scram-salt\0${this.username}`).subarray(0, SCRAM_SALT_BYTES);
        iterations = this.fakeIterations;
        this.storedKey = hmac(this.secret, `nestmq-scram-stored-key\0${this.username}`);
        this.serverKey = hmac(this.secret, `nestmq-scram-server-key\0${this.username}`);
      }
      const serverNonce = this.serverNonce();
      if (!NONCE.test(serverNonce)) return this.end(fail('bad-state', 'the server nonce generator returned a non-printable nonce'));
      this.nonce += serverNonce;
      this.serverFirst = `r=${this.nonce},s=${salt.toString('base64')},i=${iterations}`;
      this.state = 'started';
      return { ok: true, serverFirst: Buffer.from(this.serverFirst, 'utf8') };
    } catch (err) {
      return this.end(fail('bad-state', `unexpected error: ${(err as Error)?.message ?? String(err)}`));
    }
  }

  /** Takes client-final-message, answers server-final-message on success. Never throws. */
  finish(clientFinalMessage: Buffer): ScramFinishResult {
    if (this.state !== 'started') return fail('bad-state', `finish() called in state ${this.state}`);
    this.state = 'done';
    try {
      return this.verifyClientFinal(clientFinalMessage);
    } catch (err) {
      return fail('bad-state', `unexpected error: ${(err as Error)?.message ?? String(err)}`);
    }
  }

  private end(failure: ScramFailure): ScramFailure {
    this.state = 'done';
    return failure;
  }

  private usable(c: ScramCredentials): boolean {
    return (
      Buffer.isBuffer(c.salt) &&
      c.salt.length > 0 &&
      Number.isSafeInteger(c.iterations) &&
      c.iterations >= this.minIterations &&
      c.iterations <= SCRAM_MAX_ITERATIONS &&
      Buffer.isBuffer(c.storedKey) &&
      c.storedKey.length === KEY_BYTES &&
      Buffer.isBuffer(c.serverKey) &&
      c.serverKey.length === KEY_BYTES
    );
  }

  /** Decodes a client message: size bound first, then strict UTF-8. */
  private text(message: Buffer): string | ScramFailure {
    if (!Buffer.isBuffer(message)) return fail('invalid-encoding', 'the message is not a byte buffer', 'invalid-encoding');
    if (message.length > this.maxMessageBytes) {
      return fail('message-too-long', `message of ${message.length} bytes, more than ${this.maxMessageBytes}`);
    }
    try {
      return UTF8.decode(message);
    } catch {
      return fail('invalid-encoding', 'the message is not UTF-8', 'invalid-encoding');
    }
  }

  /**
   * client-first-message = gs2-header client-first-message-bare (RFC 5802 §7). Sets gs2Header,
   * clientFirstBare, username and nonce; returns a failure or undefined.
   */
  private parseClientFirst(message: Buffer): ScramFailure | undefined {
    const text = this.text(message);
    if (typeof text !== 'string') return text;
    // gs2-cbind-flag: "n" (client does not support channel binding), "y" (it does but thinks we
    // do not: true, we advertise no -PLUS variant, so no downgrade to detect), "p=" (refused).
    if (text.startsWith('p=')) {
      return fail('channel-binding-not-supported', 'the client requires channel binding, which is not supported', 'channel-binding-not-supported');
    }
    if ((text[0] !== 'n' && text[0] !== 'y') || text[1] !== ',') {
      return fail('invalid-encoding', 'the message does not start with a GS2 header (n, y or p=)', 'invalid-encoding');
    }
    const authzidEnd = text.indexOf(',', 2);
    if (authzidEnd < 0) return fail('invalid-encoding', 'the GS2 header is not terminated', 'invalid-encoding');
    const authzidField = text.slice(2, authzidEnd);
    this.gs2Header = text.slice(0, authzidEnd + 1);
    this.clientFirstBare = text.slice(authzidEnd + 1);

    const attrs = this.clientFirstBare.split(',');
    if (attrs[0].startsWith('m=')) return fail('extensions-not-supported', 'mandatory extension (m=) not supported', 'extensions-not-supported');
    if (attrs.length < 2 || !attrs[0].startsWith('n=') || !attrs[1].startsWith('r=')) {
      return fail('invalid-encoding', 'expected n=username,r=nonce in that order', 'invalid-encoding');
    }
    for (let i = 2; i < attrs.length; i++) {
      // Optional extensions are ignored, but must be well formed.
      if (!ATTR.test(attrs[i])) return fail('invalid-encoding', `malformed attribute ${i + 1}`, 'invalid-encoding');
    }
    const username = this.decodeSaslname(attrs[0].slice(2));
    if (typeof username !== 'string') return username;
    if (authzidField !== '') {
      // An authorization identity other than the authentication one would let one user act as
      // another: there is no such role here, so only the same name (or none) is accepted.
      if (!authzidField.startsWith('a=')) return fail('invalid-encoding', 'malformed authzid in the GS2 header', 'invalid-encoding');
      const authzid = this.decodeSaslname(authzidField.slice(2));
      if (typeof authzid !== 'string') return authzid;
      if (authzid !== username) return fail('authzid-not-supported', 'an authorization identity other than the username is not supported');
    }
    const clientNonce = attrs[1].slice(2);
    if (!NONCE.test(clientNonce)) return fail('invalid-encoding', 'the client nonce is empty or not printable', 'invalid-encoding');
    this.username = username;
    this.nonce = clientNonce;
    return undefined;
  }

  /** saslname -> SASLprep'd username (RFC 5802 §5.1: "=2C" is ',', "=3D" is '=', other '=' is an error). */
  private decodeSaslname(field: string): string | ScramFailure {
    if (!SASLNAME.test(field)) {
      return fail('invalid-username-encoding', 'the username is empty or has a bad = escape', 'invalid-username-encoding');
    }
    const name = field.replace(/=2C|=3D/g, (e) => (e === '=2C' ? ',' : '='));
    if (Buffer.byteLength(name, 'utf8') > this.maxUsernameBytes) {
      return fail('username-too-long', `username longer than ${this.maxUsernameBytes} bytes`, 'invalid-username-encoding');
    }
    // A query string: unassigned code points are allowed (RFC 5802 §5.1).
    const prepared = saslprep(name);
    if (!prepared.ok) return fail('invalid-username-encoding', `the username fails SASLprep: ${prepared.reason}`, 'invalid-username-encoding');
    return prepared.value;
  }

  /**
   * client-final-message = c=<cbind>,r=<nonce>[,extensions],p=<proof> (RFC 5802 §7), then the
   * proof check of §3. The same work is done for an unknown user, against a derived StoredKey.
   */
  private verifyClientFinal(message: Buffer): ScramFinishResult {
    const text = this.text(message);
    if (typeof text !== 'string') return text;
    const attrs = text.split(',');
    if (attrs.length < 3 || !attrs[0].startsWith('c=') || !attrs[1].startsWith('r=') || !attrs[attrs.length - 1].startsWith('p=')) {
      return fail('invalid-encoding', 'expected c=...,r=...,p=... in that order', 'invalid-encoding');
    }
    for (let i = 2; i < attrs.length - 1; i++) {
      if (!ATTR.test(attrs[i]) || /^[crp]=/.test(attrs[i])) return fail('invalid-encoding', `malformed or repeated attribute ${i + 1}`, 'invalid-encoding');
    }
    const cbind = decodeBase64(attrs[0].slice(2));
    if (cbind === undefined) return fail('invalid-encoding', 'the channel binding (c=) is not base64', 'invalid-encoding');
    // Without channel binding, c= is the GS2 header of client-first, byte for byte (RFC 5802 §6).
    if (!cbind.equals(Buffer.from(this.gs2Header, 'utf8'))) {
      return fail('channel-bindings-dont-match', 'c= does not repeat the GS2 header of client-first', 'channel-bindings-dont-match');
    }
    if (attrs[1].slice(2) !== this.nonce) return fail('nonce-mismatch', 'r= is not the nonce of server-first');
    const proof = decodeBase64(attrs[attrs.length - 1].slice(2));
    if (proof === undefined || proof.length !== KEY_BYTES) {
      return fail('invalid-encoding', `the proof (p=) is not base64 of ${KEY_BYTES} bytes`, 'invalid-encoding');
    }

    const withoutProof = text.slice(0, text.length - attrs[attrs.length - 1].length - 1);
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const clientSignature = hmac(this.storedKey, authMessage);
    for (let i = 0; i < KEY_BYTES; i++) clientSignature[i] ^= proof[i]; // now ClientKey
    const matches = timingSafeEqual(sha256(clientSignature), this.storedKey);
    if (!this.known) return fail('unknown-user', `no usable SCRAM credentials for ${JSON.stringify(this.username)}`, 'invalid-proof');
    if (!matches) return fail('invalid-proof', `wrong proof for ${JSON.stringify(this.username)}`, 'invalid-proof');
    const serverSignature = hmac(this.serverKey, authMessage);
    return { ok: true, username: this.username, serverFinal: Buffer.from(`v=${serverSignature.toString('base64')}`, 'utf8') };
  }
}

// ---------------------------------------------------------------------------------------------
// Stored form: PostgreSQL's, SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, base64.

const SCRAM_SECRET = /^SCRAM-SHA-256\$([1-9][0-9]{0,8}):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/]{43}=):([A-Za-z0-9+/]{43}=)$/;

/** The credentials in a stored SCRAM-SHA-256 secret, or undefined if it is not one we accept. */
export function parseScramSecret(stored: string): ScramCredentials | undefined {
  const m = SCRAM_SECRET.exec(stored);
  if (m === null) return undefined;
  const iterations = Number(m[1]);
  if (iterations < SCRAM_MIN_ITERATIONS || iterations > SCRAM_MAX_ITERATIONS) return undefined;
  const salt = decodeBase64(m[2]);
  const storedKey = decodeBase64(m[3]);
  const serverKey = decodeBase64(m[4]);
  if (salt === undefined || salt.length === 0 || storedKey === undefined || serverKey === undefined) return undefined;
  return { salt, iterations, storedKey, serverKey };
}

export function formatScramSecret(c: ScramCredentials): string {
  return `SCRAM-SHA-256$${c.iterations}:${c.salt.toString('base64')}$${c.storedKey.toString('base64')}:${c.serverKey.toString('base64')}`;
}

/**
 * The credentials for a password (RFC 5802 §3), for a stored entry: the password is SASLprep'd as
 * a stored string (unassigned code points refused). Throws if it cannot be prepared: a tool
 * should tell its user rather than store something no RFC client could log in with.
 */
export function deriveScramCredentials(password: string, iterations: number, salt: Buffer = randomBytes(SCRAM_SALT_BYTES)): ScramCredentials {
  const prepared = saslprep(password, true);
  if (!prepared.ok) throw new Error(`the password cannot be used with SCRAM (SASLprep, RFC 4013): ${prepared.reason}`);
  const saltedPassword = pbkdf2Sync(Buffer.from(prepared.value, 'utf8'), salt, iterations, KEY_BYTES, 'sha256');
  return { salt, iterations, ...keysFromSaltedPassword(saltedPassword) };
}

/**
 * Does a plain password (MQTT CONNECT's Password field) match stored SCRAM credentials? The
 * password is SASLprep'd as a query, as a SCRAM client would; bytes that are not UTF-8 or fail
 * SASLprep are used as they are, as PostgreSQL does. PBKDF2 runs in libuv's thread pool.
 */
export async function verifyScramPassword(password: Buffer, c: ScramCredentials): Promise<boolean> {
  let input = password;
  try {
    const prepared = saslprep(UTF8.decode(password));
    if (prepared.ok) input = Buffer.from(prepared.value, 'utf8');
  } catch {
    // not UTF-8: the raw bytes
  }
  const saltedPassword = await new Promise<Buffer>((resolve, reject) =>
    pbkdf2(input, c.salt, c.iterations, KEY_BYTES, 'sha256', (err, key) => (err ? reject(err) : resolve(key))),
  );
  return timingSafeEqual(keysFromSaltedPassword(saltedPassword).storedKey, c.storedKey);
}
