/**
 * MQTT 5 conformance, enhanced authentication: AUTH (section 3.15) and the exchange of section
 * 4.12, at CONNECT and as re-authentication, over raw bytes (client packets from encodePacketV5,
 * server packets decoded by mqtt-packet). A challenge/response test plugin drives the generic
 * rules; SCRAM-SHA-256 (auth.scram over a password file) is checked end to end with the client
 * side of RFC 5802 computed here from node:crypto, independently of src/core/auth/scram.ts.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IConnackPacket } from 'mqtt';
import type { IAuthPacket } from 'mqtt-packet';
import type { BrokerPlugin, EnhancedAuthRequest, EnhancedAuthResult } from '../../../src';
import { encodePacketV5 } from '../../../src/core/protocol/encoder-v5';
import { PacketType, type Properties } from '../../../src/core/protocol/packets';
import { useBroker } from '../../helpers/conformance';
import type { RawClient } from '../../helpers/raw';
import { connectV5, decodeV5 } from '../../helpers/v5';

interface Decoded {
  cmd: string;
  reasonCode: number;
  properties?: {
    authenticationMethod?: string;
    authenticationData?: Buffer;
    userProperties?: Record<string, string | string[]>;
  };
}

const METHOD = 'TEST-CR';

function auth(reasonCode: number, properties?: Properties): Buffer {
  return encodePacketV5({ type: PacketType.AUTH, reasonCode, properties });
}

const authData = (reasonCode: number, data: string, method = METHOD): Buffer =>
  auth(reasonCode, { authenticationMethod: method, authenticationData: Buffer.from(data) });

async function nextDecoded(c: RawClient): Promise<Decoded> {
  return decodeV5<Decoded>(await c.next());
}

/**
 * Challenge/response for the tests: step 1 (asynchronous) answers "challenge-N"; then "answer"
 * succeeds with "welcome" and a User Property, "more" asks again, anything else is refused 0x87.
 */
class ChallengePlugin implements BrokerPlugin {
  readonly name = 'test.challenge';
  readonly authenticationMethods = [METHOD];
  readonly steps: EnhancedAuthRequest[] = [];

  authenticateEnhanced(req: EnhancedAuthRequest): EnhancedAuthResult | Promise<EnhancedAuthResult> {
    this.steps.push({ ...req });
    if (req.step === 1) {
      req.state = 0;
      return Promise.resolve({ continue: Buffer.from('challenge-1') });
    }
    const data = req.data?.toString() ?? '';
    req.state = (req.state as number) + 1;
    if (data === 'answer') return { success: true, data: Buffer.from('welcome'), username: 'cr-user', userProperties: [['role', 'tester']] };
    if (data === 'more') return { continue: Buffer.from(`challenge-${req.step}`) };
    return { success: false, reasonCode: 0x87 };
  }
}

describe('v5 enhanced authentication with a challenge/response plugin', () => {
  let plugin: ChallengePlugin;
  const h = useBroker({ limits: { 'max-auth-steps': 3, 'max-reauth-per-minute': 2 } }, () => {
    plugin = new ChallengePlugin();
    return { plugins: [plugin] };
  });

  /** A raw client through CONNECT -> AUTH 0x18 challenge (returned). */
  async function challenged(clientId = 'cr'): Promise<{ c: RawClient; challenge: Decoded }> {
    const c = await h().raw();
    c.send(connectV5({ clientId, properties: { authenticationMethod: METHOD, authenticationData: Buffer.from('hello') } }));
    return { c, challenge: await nextDecoded(c) };
  }

  async function authenticated(clientId = 'cr'): Promise<RawClient> {
    const { c } = await challenged(clientId);
    c.send(authData(0x18, 'answer'));
    const ack = await nextDecoded(c);
    expect([ack.cmd, ack.reasonCode]).toEqual(['connack', 0]);
    return c;
  }

  it('v5 [MQTT-4.12.0-2] [MQTT-4.12.0-5] [MQTT-3.15.2-1] the challenge is AUTH 0x18 with the method; the answer completes with CONNACK 0x00 carrying the method, the final data and the plugin\'s User Properties', async () => {
    const { c, challenge } = await challenged();
    expect(challenge).toMatchObject({ cmd: 'auth', reasonCode: 0x18 });
    expect(challenge.properties?.authenticationMethod).toBe(METHOD);
    expect(challenge.properties?.authenticationData?.toString()).toBe('challenge-1');
    c.send(authData(0x18, 'answer'));
    const ack = await nextDecoded(c);
    expect([ack.cmd, ack.reasonCode]).toEqual(['connack', 0]);
    expect(ack.properties?.authenticationMethod).toBe(METHOD);
    expect(ack.properties?.authenticationData?.toString()).toBe('welcome');
    expect(ack.properties?.userProperties).toEqual({ role: 'tester' });
    // The plugin saw the CONNECT's data, then the AUTH's, with its own state carried between steps.
    expect(plugin.steps.map((s) => [s.step, s.data?.toString(), s.reauthentication, s.state])).toEqual([
      [1, 'hello', false, undefined],
      [2, 'answer', false, 0],
    ]);
    expect(h().broker.client('cr')?.username).toBe('cr-user');
    await c.pingRoundTrip();
  });

  it('v5 [MQTT-4.12.0-3] an answer other than AUTH 0x18 mid-exchange is a Protocol Error: CONNACK 0x82 and close', async () => {
    const { c } = await challenged();
    c.send(authData(0x00, 'answer'));
    expect(await nextDecoded(c)).toMatchObject({ cmd: 'connack', reasonCode: 0x82 });
    await c.expectClosed();
  });

  it('v5 [MQTT-3.1.2-30] a packet other than AUTH or DISCONNECT before CONNACK is a Protocol Error: CONNACK 0x82 and close', async () => {
    const { c } = await challenged();
    c.send(encodePacketV5({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topic: 'a', qos: 0 }] }));
    expect(await nextDecoded(c)).toMatchObject({ cmd: 'connack', reasonCode: 0x82 });
    await c.expectClosed();
    expect(plugin.steps).toHaveLength(1);
  });

  it('v5 [MQTT-3.1.2-30] a DISCONNECT mid-exchange closes the connection without CONNACK', async () => {
    const { c } = await challenged();
    c.send(encodePacketV5({ type: PacketType.DISCONNECT, reasonCode: 0 }));
    await c.expectClosed();
    expect(plugin.steps).toHaveLength(1);
  });

  it('v5 [MQTT-4.12.1-1] [§3.15] an AUTH with another Authentication Method mid-exchange is a Protocol Error: CONNACK 0x82', async () => {
    const { c } = await challenged();
    c.send(authData(0x18, 'answer', 'OTHER'));
    expect(await nextDecoded(c)).toMatchObject({ cmd: 'connack', reasonCode: 0x82 });
    await c.expectClosed();
  });

  it('v5 [MQTT-4.12.0-4] a refusal at a step is CONNACK with the plugin\'s code (0x87), then close', async () => {
    const { c } = await challenged();
    c.send(authData(0x18, 'wrong'));
    expect(await nextDecoded(c)).toMatchObject({ cmd: 'connack', reasonCode: 0x87 });
    await c.expectClosed();
    expect(h().broker.client('cr')).toBeUndefined();
  });

  it('v5 [MQTT-4.12.0-4] a plugin asking for more than max-auth-steps steps is refused 0x87 (the client cannot hold an exchange open)', async () => {
    const { c } = await challenged();
    c.send(authData(0x18, 'more'));
    const second = await nextDecoded(c);
    expect([second.cmd, second.reasonCode, second.properties?.authenticationData?.toString()]).toEqual(['auth', 0x18, 'challenge-2']);
    c.send(authData(0x18, 'more')); // step 3 of 3 would need a 4th
    expect(await nextDecoded(c)).toMatchObject({ cmd: 'connack', reasonCode: 0x87 });
    await c.expectClosed();
    expect(h().broker.stats.refusedAuthSteps).toBe(1);
  });

  it('v5 [MQTT-4.12.1-1] [§4.12.1] [MQTT-3.15.2-1] re-authentication: AUTH 0x19 -> AUTH 0x18 -> AUTH 0x00, traffic goes on meanwhile', async () => {
    const c = await authenticated();
    c.send(encodePacketV5({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topic: 'r/#', qos: 1 }] }));
    expect(await nextDecoded(c)).toMatchObject({ cmd: 'suback' });
    c.send(authData(0x19, 'again'));
    const challenge = await nextDecoded(c);
    expect([challenge.cmd, challenge.reasonCode, challenge.properties?.authenticationMethod]).toEqual(['auth', 0x18, METHOD]);
    // Mid-exchange the connection works under the previous authentication.
    c.send(encodePacketV5({ type: PacketType.PUBLISH, topic: 'r/1', payload: Buffer.from('x'), qos: 1, packetId: 7, retain: false, dup: false }));
    const got = [await nextDecoded(c), await nextDecoded(c)].map((p) => p.cmd).sort();
    expect(got).toEqual(['puback', 'publish']);
    c.send(authData(0x18, 'answer'));
    const done = await nextDecoded(c);
    expect([done.cmd, done.reasonCode, done.properties?.authenticationMethod, done.properties?.authenticationData?.toString()]).toEqual(['auth', 0, METHOD, 'welcome']);
    expect(plugin.steps.slice(2).map((s) => [s.step, s.reauthentication, s.username])).toEqual([
      [1, true, 'cr-user'],
      [2, true, 'cr-user'],
    ]);
    await c.pingRoundTrip();
    expect(h().broker.stats.reauthentications).toBe(1);
  });

  it('v5 [MQTT-4.12.1-1] re-authentication with another Authentication Method is DISCONNECT 0x82', async () => {
    const c = await authenticated();
    c.send(authData(0x19, 'again', 'OTHER'));
    expect(await nextDecoded(c)).toMatchObject({ cmd: 'disconnect', reasonCode: 0x82 });
    await c.expectClosed();
  });

  it('v5 [MQTT-4.12.1-2] a failed re-authentication is DISCONNECT 0x87, then close', async () => {
    const c = await authenticated();
    c.send(authData(0x19, 'again'));
    expect(await nextDecoded(c)).toMatchObject({ cmd: 'auth', reasonCode: 0x18 });
    c.send(authData(0x18, 'wrong'));
    expect(await nextDecoded(c)).toMatchObject({ cmd: 'disconnect', reasonCode: 0x87 });
    await c.expectClosed();
  });

  it('v5 [MQTT-4.12.0-3] an AUTH 0x18 from a connected client with no exchange running is DISCONNECT 0x82', async () => {
    const c = await authenticated();
    c.send(authData(0x18, 'answer'));
    expect(await nextDecoded(c)).toMatchObject({ cmd: 'disconnect', reasonCode: 0x82 });
    await c.expectClosed();
  });

  it('v5 [MQTT-4.12.1-1] re-authentication beyond max-reauth-per-minute is DISCONNECT 0x96 Message rate too high', async () => {
    const c = await authenticated();
    for (let i = 0; i < 2; i++) {
      c.send(authData(0x19, 'again'));
      expect(await nextDecoded(c)).toMatchObject({ cmd: 'auth', reasonCode: 0x18 });
      c.send(authData(0x18, 'answer'));
      expect(await nextDecoded(c)).toMatchObject({ cmd: 'auth', reasonCode: 0 });
    }
    c.send(authData(0x19, 'again'));
    expect(await nextDecoded(c)).toMatchObject({ cmd: 'disconnect', reasonCode: 0x96 });
    await c.expectClosed();
    expect(h().broker.stats.closedReauthRate).toBe(1);
    expect(plugin.steps).toHaveLength(6); // the third re-authentication never reached the plugin
  });

  it('v5 [MQTT-4.12.0-1] a method no plugin serves is CONNACK 0x8C Bad authentication method, then close', async () => {
    const c = await h().raw();
    c.send(connectV5({ clientId: 'foo', properties: { authenticationMethod: 'FOO' } }));
    expect(await nextDecoded(c)).toMatchObject({ cmd: 'connack', reasonCode: 0x8c });
    await c.expectClosed();
    expect(plugin.steps).toHaveLength(0);
  });
});

describe('v5 enhanced authentication: limits and plain CONNECT', () => {
  const h = useBroker({ limits: { 'connect-timeout': 1 } }, () => ({ plugins: [new ChallengePlugin()] }));

  it('v5 [MQTT-4.12.0-4] the exchange lives within connect-timeout: a client that never answers gets CONNACK 0x88 and is closed', async () => {
    const c = await h().raw();
    c.send(connectV5({ clientId: 'slow', properties: { authenticationMethod: METHOD, authenticationData: Buffer.from('hello') } }));
    expect(await nextDecoded(c)).toMatchObject({ cmd: 'auth', reasonCode: 0x18 });
    expect(await nextDecoded(c)).toMatchObject({ cmd: 'connack', reasonCode: 0x88 });
    await c.expectClosed();
  });

  it('v5 [MQTT-4.12.0-6] [MQTT-4.12.0-7] [§3.15] a plain CONNECT gets no Authentication Method in CONNACK, and an AUTH from it is DISCONNECT 0x82', async () => {
    const c = await h().raw();
    c.send(connectV5({ clientId: 'plain' }));
    const ack = await nextDecoded(c);
    expect([ack.cmd, ack.reasonCode, ack.properties?.authenticationMethod]).toEqual(['connack', 0, undefined]);
    c.send(authData(0x19, 'again'));
    expect(await nextDecoded(c)).toMatchObject({ cmd: 'disconnect', reasonCode: 0x82 });
    await c.expectClosed();
  });

  it('v5 [MQTT-3.15.1-1] an AUTH whose fixed header flags are not 0000 is Malformed: DISCONNECT 0x81 (a well-formed one would be 0x82), then close', async () => {
    const c = await h().raw();
    c.send(connectV5({ clientId: 'flags' }));
    expect(await nextDecoded(c)).toMatchObject({ cmd: 'connack', reasonCode: 0 });
    c.send(Buffer.from([0xf1, 0x02, 0x18, 0x00]));
    await c.waitClosed();
    expect(c.history.map((p) => decodeV5<Decoded>(p)).map((p) => [p.cmd, p.reasonCode])).toEqual([['connack', 0], ['disconnect', 0x81]]);
  });
});

describe('v5 plugin API: a plugin\'s User Properties on CONNACK', () => {
  const seen: { connect?: Properties; publish?: Properties } = {};
  const propertiesPlugin: BrokerPlugin = {
    name: 'test.properties',
    authenticate(req) {
      seen.connect = req.properties;
      return { ok: true, userProperties: [['tier', 'gold']] };
    },
    authorizePublish(_client, _topic, _qos, _retain, properties) {
      seen.publish = properties;
      return true;
    },
  };
  const h = useBroker({}, () => ({ plugins: [propertiesPlugin] }));

  it('v5 [MQTT-3.2.2-20] a client Maximum Packet Size the plugin\'s User Properties would exceed: the CONNACK goes without them', async () => {
    const full = await h().raw();
    full.send(connectV5({ clientId: 'props-full', username: 'u' }));
    const whole = await full.next();
    expect(decodeV5<Decoded>(whole).properties?.userProperties).toEqual({ tier: 'gold' });
    const c = await h().raw();
    c.send(connectV5({ clientId: 'props-tiny', username: 'u', properties: { maximumPacketSize: whole.bytes.length - 1 } }));
    const ack = await c.next();
    const decoded = decodeV5<Decoded>(ack);
    expect([decoded.cmd, decoded.reasonCode, decoded.properties?.userProperties]).toEqual(['connack', 0, undefined]);
    // 13 bytes less: the one User Property (0x26, 2 + 4 "tier", 2 + 4 "gold").
    expect(ack.bytes.length).toBe(whole.bytes.length - 13);
  });
});

// ---- SCRAM-SHA-256: the client side of RFC 5802, written here from node:crypto ----

const hmac = (key: Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();
const sha256 = (data: Buffer): Buffer => createHash('sha256').update(data).digest();

/** A password-file line in PostgreSQL's SCRAM format (docs/scram.md), computed independently. */
function scramLine(user: string, password: string, iterations = 4096): string {
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const storedKey = sha256(hmac(salted, 'Client Key'));
  const serverKey = hmac(salted, 'Server Key');
  return `${user}:SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

class ScramClient {
  readonly nonce = randomBytes(18).toString('base64');
  private authMessage = '';
  private salted = Buffer.alloc(0);

  constructor(
    readonly user: string,
    readonly password: string,
  ) {}

  get clientFirstBare(): string {
    return `n=${this.user},r=${this.nonce}`;
  }

  first(): Buffer {
    return Buffer.from(`n,,${this.clientFirstBare}`);
  }

  final(serverFirst: string): Buffer {
    const attrs = Object.fromEntries(serverFirst.split(',').map((a) => [a[0], a.slice(2)]));
    expect(attrs.r.startsWith(this.nonce)).toBe(true);
    this.salted = pbkdf2Sync(this.password, Buffer.from(attrs.s, 'base64'), Number(attrs.i), 32, 'sha256');
    const clientKey = hmac(this.salted, 'Client Key');
    const withoutProof = `c=biws,r=${attrs.r}`;
    this.authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const signature = hmac(sha256(clientKey), this.authMessage);
    const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]));
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`);
  }

  /** The server-final message v=ServerSignature, as the client must check it (RFC 5802 §3). */
  expectedServerFinal(): string {
    return `v=${hmac(hmac(this.salted, 'Server Key'), this.authMessage).toString('base64')}`;
  }
}

describe('v5 enhanced authentication: SCRAM-SHA-256 (auth.scram over the password file)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nestmq-scram-'));
  const passwordFile = join(dir, 'passwd');
  writeFileSync(passwordFile, `${scramLine('alice', 'pencil')}\n`);
  const h = useBroker({ auth: { plugins: ['auth.file', 'auth.scram'], 'allow-anonymous': false, 'password-file': passwordFile } });

  /** CONNECT with client-first, AUTH 0x18 with client-final: the CONNACK (or whatever comes). */
  async function scramConnect(client: ScramClient, username?: string): Promise<{ c: RawClient; ack: Decoded }> {
    const c = await h().raw();
    c.send(connectV5({ clientId: 'scram', username: username ?? null, properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: client.first() } }));
    const serverFirst = await nextDecoded(c);
    expect([serverFirst.cmd, serverFirst.reasonCode, serverFirst.properties?.authenticationMethod]).toEqual(['auth', 0x18, 'SCRAM-SHA-256']);
    c.send(auth(0x18, { authenticationMethod: 'SCRAM-SHA-256', authenticationData: client.final(serverFirst.properties!.authenticationData!.toString()) }));
    return { c, ack: await nextDecoded(c) };
  }

  it('v5 [MQTT-4.12.0-2] [MQTT-4.12.0-5] [§4.12] the right password: CONNACK 0x00 with the method and v=ServerSignature, which the client verifies', async () => {
    const client = new ScramClient('alice', 'pencil');
    const { c, ack } = await scramConnect(client);
    expect([ack.cmd, ack.reasonCode, ack.properties?.authenticationMethod]).toEqual(['connack', 0, 'SCRAM-SHA-256']);
    expect(ack.properties?.authenticationData?.toString()).toBe(client.expectedServerFinal());
    expect(h().broker.client('scram')?.username).toBe('alice');
    await c.pingRoundTrip();
  });

  it('v5 [MQTT-4.12.0-4] a wrong password is CONNACK 0x86 Bad User Name or Password, then close; so is an unknown user', async () => {
    for (const client of [new ScramClient('alice', 'pen'), new ScramClient('mallory', 'pencil')]) {
      const { c, ack } = await scramConnect(client);
      expect([ack.cmd, ack.reasonCode]).toEqual(['connack', 0x86]);
      await c.expectClosed();
    }
  });

  it('v5 [MQTT-4.12.0-4] a CONNECT User Name other than the SCRAM user is refused 0x86', async () => {
    const { c, ack } = await scramConnect(new ScramClient('alice', 'pencil'), 'bob');
    expect([ack.cmd, ack.reasonCode]).toEqual(['connack', 0x86]);
    await c.expectClosed();
  });

  it('v5 [MQTT-4.12.1-1] SCRAM re-authentication: a new exchange from AUTH 0x19 ends in AUTH 0x00 with v=', async () => {
    const { c, ack } = await scramConnect(new ScramClient('alice', 'pencil'));
    expect(ack.reasonCode).toBe(0);
    const again = new ScramClient('alice', 'pencil');
    c.send(auth(0x19, { authenticationMethod: 'SCRAM-SHA-256', authenticationData: again.first() }));
    const serverFirst = await nextDecoded(c);
    expect([serverFirst.cmd, serverFirst.reasonCode]).toEqual(['auth', 0x18]);
    c.send(auth(0x18, { authenticationMethod: 'SCRAM-SHA-256', authenticationData: again.final(serverFirst.properties!.authenticationData!.toString()) }));
    const done = await nextDecoded(c);
    expect([done.cmd, done.reasonCode, done.properties?.authenticationData?.toString()]).toEqual(['auth', 0, again.expectedServerFinal()]);
    await c.pingRoundTrip();
  });

  it('v5 [MQTT-4.12.1-2] SCRAM re-authentication with a wrong password is DISCONNECT 0x87 (0x86 cannot go in DISCONNECT), then close', async () => {
    const { c } = await scramConnect(new ScramClient('alice', 'pencil'));
    const again = new ScramClient('alice', 'wrong');
    c.send(auth(0x19, { authenticationMethod: 'SCRAM-SHA-256', authenticationData: again.first() }));
    const serverFirst = await nextDecoded(c);
    c.send(auth(0x18, { authenticationMethod: 'SCRAM-SHA-256', authenticationData: again.final(serverFirst.properties!.authenticationData!.toString()) }));
    expect(await nextDecoded(c)).toMatchObject({ cmd: 'disconnect', reasonCode: 0x87 });
    await c.expectClosed();
  });

  it('v5 [MQTT-4.12.0-2] [MQTT-4.12.0-5] interop: MQTT.js 5 (its handleAuth hook) logs in with SCRAM-SHA-256', async () => {
    const scram = new ScramClient('alice', 'pencil');
    const client = mqtt.connect(`mqtt://127.0.0.1:${h().port}`, {
      protocolVersion: 5,
      reconnectPeriod: 0,
      clientId: 'mqttjs-scram',
      properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: scram.first() },
    });
    client.handleAuth = (packet: IAuthPacket, callback: (error?: Error, packet?: IAuthPacket) => void): void => {
      callback(undefined, {
        cmd: 'auth',
        reasonCode: 0x18,
        properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: scram.final(packet.properties!.authenticationData!.toString()) },
      });
    };
    try {
      const connack = await new Promise<IConnackPacket>((resolve, reject) => {
        client.once('connect', resolve);
        client.once('error', reject);
      });
      expect(connack.reasonCode).toBe(0);
      expect(connack.properties?.authenticationData?.toString()).toBe(scram.expectedServerFinal());
      await client.subscribeAsync('scram/t', { qos: 1 });
    } finally {
      client.end(true);
    }
  });

  it('v5 [§3.1.2.11.9] the same SCRAM entry still serves a plain user name/password CONNECT (auth.file)', async () => {
    const c = await h().raw();
    c.send(connectV5({ clientId: 'plain', username: 'alice', password: Buffer.from('pencil') }));
    expect(await nextDecoded(c)).toMatchObject({ cmd: 'connack', reasonCode: 0 });
  });
});
