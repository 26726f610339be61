import { spawn } from 'node:child_process';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { runPasswd, type PasswdIO } from '../../src/cli/passwd';
import { hashPassword } from '../../src/core/auth/hashes';
import type { BrokerPlugin } from '../../src/core/hooks/plugin';
import { nextMessage, TestBroker } from '../helpers/broker';
import { nextEvent, waitFor } from '../helpers/wait';
import { connackCode, passwordFile, publishAcked, recording, subscribeCodes, tmp, usersInEveryFormat } from './auth.helpers';

const FORMATS = ['bcrypt2b', 'bcrypt2a', 'bcrypt2y', 'sha512crypt', 'mosquitto6', 'mosquitto7'];

describe('auth.file with real MQTT clients', () => {
  let tb: TestBroker;
  let dir: string;
  let file: string;
  const warnings: string[] = [];

  beforeAll(async () => {
    dir = tmp();
    file = join(dir, 'passwd');
    writeFileSync(file, passwordFile(await usersInEveryFormat(dir)));
    tb = await TestBroker.start({ auth: { plugins: ['auth.anonymous', 'auth.file'], 'allow-anonymous': false, 'password-file': file } });
    tb.broker.on('warning', (e) => warnings.push(e.message));
  });
  afterAll(() => tb.close());

  it.each(FORMATS)('%s hash: the right password is accepted (0), a wrong one refused with 0x04', async (user) => {
    expect(await connackCode(tb.url, { username: user, password: `${user}-pw` })).toBe(0);
    expect(await connackCode(tb.url, { username: user, password: `${user}-PW` })).toBe(4);
  });

  it('a username alone, an unknown user and an empty password are refused with 0x04', async () => {
    expect(await connackCode(tb.url, { username: 'bcrypt2b' })).toBe(4);
    expect(await connackCode(tb.url, { username: 'nobody', password: 'x' })).toBe(4);
    expect(await connackCode(tb.url, { username: 'bcrypt2b', password: '' })).toBe(4);
  });

  it('no username with allow-anonymous false is refused with 0x05', async () => {
    expect(await connackCode(tb.url)).toBe(5);
  });

  it('failed logins are logged with the username and without the password', async () => {
    warnings.length = 0;
    await connackCode(tb.url, { username: 'mosquitto7', password: 'Guess-Number-One' });
    await waitFor(() => warnings.some((w) => /wrong password for user "mosquitto7"/.test(w)), 2000, 'the failed login warning');
    expect(warnings.join('\n')).not.toContain('Guess-Number-One');
  });
});

describe('allow-anonymous with real MQTT clients', () => {
  it('auth.anonymous with allow-anonymous true accepts clients with and without username', async () => {
    const tb = await TestBroker.start({ auth: { plugins: ['auth.anonymous'], 'allow-anonymous': true } });
    try {
      expect(await connackCode(tb.url)).toBe(0);
      expect(await connackCode(tb.url, { username: 'anyone', password: 'anything' })).toBe(0);
    } finally {
      await tb.close();
    }
  });

  it('allow-anonymous false: no username 0x05, and a username alone does not get in (hbmqtt accepted it)', async () => {
    const tb = await TestBroker.start({ auth: { plugins: ['auth_anonymous'], 'allow-anonymous': false } });
    try {
      expect(await connackCode(tb.url)).toBe(5);
      expect(await connackCode(tb.url, { username: 'anyone' })).toBe(4);
      expect(await connackCode(tb.url, { username: 'anyone', password: 'pw' })).toBe(4);
    } finally {
      await tb.close();
    }
  });

  it('auth.file with allow-anonymous true still lets clients without username in, and checks the rest', async () => {
    const dir = tmp();
    const file = join(dir, 'passwd');
    writeFileSync(file, `alice:${await hashPassword('pw', 4)}\n`);
    const tb = await TestBroker.start({ auth: { plugins: ['auth.anonymous', 'auth.file'], 'allow-anonymous': true, 'password-file': file } });
    try {
      expect(await connackCode(tb.url)).toBe(0);
      expect(await connackCode(tb.url, { username: 'alice', password: 'pw' })).toBe(0);
      expect(await connackCode(tb.url, { username: 'alice', password: 'no' })).toBe(4);
      expect(await connackCode(tb.url, { username: 'bob', password: 'pw' })).toBe(4);
    } finally {
      await tb.close();
    }
  });
});

describe('reload of the password file', () => {
  it('while connected: connected clients stay, the new password takes effect, new users get in', async () => {
    const dir = tmp();
    const file = join(dir, 'passwd');
    writeFileSync(file, `alice:${await hashPassword('old', 4)}\nbob:${await hashPassword('bob-pw', 4)}\n`);
    const tb = await TestBroker.start({ auth: { plugins: ['auth.file'], 'allow-anonymous': false, 'password-file': file } });
    try {
      const alice = await tb.client({ username: 'alice', password: 'old', clientId: 'alice-1' });
      const bob = await tb.client({ username: 'bob', password: 'bob-pw', clientId: 'bob-1' });
      await subscribeCodes(alice, ['chat']);
      writeFileSync(file, `alice:${await hashPassword('new', 4)}\ncarol:${await hashPassword('carol-pw', 4)}\n`);
      await tb.broker.reloadAuth();
      // Still connected, still served (bob was removed from the file, but stays until he leaves).
      const got = nextMessage(alice);
      await publishAcked(bob, 'chat', 'hello');
      expect((await got).payload.toString()).toBe('hello');
      expect(alice.connected && bob.connected).toBe(true);
      expect(tb.broker.clientCount).toBe(2);
      expect(await connackCode(tb.url, { username: 'alice', password: 'old' })).toBe(4);
      expect(await connackCode(tb.url, { username: 'alice', password: 'new' })).toBe(0);
      expect(await connackCode(tb.url, { username: 'carol', password: 'carol-pw' })).toBe(0);
      expect(await connackCode(tb.url, { username: 'bob', password: 'bob-pw' })).toBe(4);
      // An unreadable file keeps the users loaded last, and says so.
      rmSync(file);
      await expect(tb.broker.reloadAuth()).rejects.toThrow(/keeping the previous users/);
      expect(await connackCode(tb.url, { username: 'alice', password: 'new' })).toBe(0);
    } finally {
      await tb.close();
    }
  });
});

describe('a plugin that throws', () => {
  it('denies (CONNACK 0x05, SUBACK 0x80, publish dropped, delivery skipped), emits a warning, and the broker lives on', async () => {
    const boom = (): never => {
      throw new Error('boom');
    };
    const throwing: BrokerPlugin = {
      name: 'flaky',
      authenticate: (r) => (r.username === 'explode' ? boom() : undefined),
      authorizeSubscribe: (_c, filter) => (filter === 'explode/sub' ? boom() : undefined),
      authorizePublish: (_c, topic) => (topic === 'explode/pub' ? boom() : undefined),
      authorizeDelivery: (c, topic) => (c.clientId === 'victim' && topic === 'explode/read' ? boom() : undefined),
    };
    const rejecting: BrokerPlugin = {
      name: 'async-flaky',
      authenticate: async (r) => (r.username === 'reject' ? Promise.reject(new Error('async boom')) : undefined),
    };
    const tb = await TestBroker.start({ auth: { plugins: ['auth.anonymous'], 'allow-anonymous': true } }, { plugins: [throwing, rejecting] });
    const warnings: string[] = [];
    tb.broker.on('warning', (e) => warnings.push(e.message));
    try {
      expect(await connackCode(tb.url, { username: 'explode', password: 'x' })).toBe(5);
      expect(await connackCode(tb.url, { username: 'reject', password: 'x' })).toBe(5);
      const victim = await tb.client({ clientId: 'victim' });
      const other = await tb.client({ clientId: 'other' });
      expect(await subscribeCodes(victim, ['explode/sub', 'explode/#'])).toEqual([0x80, 1]);
      await subscribeCodes(other, ['explode/#']);
      const publisher = await tb.client();
      const victimGot = recording(victim, publisher);
      const otherGot = recording(other, publisher);
      await publishAcked(publisher, 'explode/pub', 'x'); // acknowledged, dropped
      await publishAcked(publisher, 'explode/read', 'x'); // delivered to other, not to victim
      await publishAcked(publisher, 'explode/ok', 'x');
      expect(await victimGot()).toEqual(['explode/ok']);
      expect(await otherGot()).toEqual(['explode/read', 'explode/ok']);
      expect(tb.broker.stats.droppedUnauthorized).toBe(1);
      expect(warnings).toEqual(
        expect.arrayContaining([
          'plugin flaky failed in authenticate: boom',
          'plugin async-flaky failed in authenticate: async boom',
          'plugin flaky failed in authorizeSubscribe: boom',
          'plugin flaky failed in authorizePublish: boom',
          'plugin flaky failed in authorizeDelivery: boom',
        ]),
      );
      expect(await connackCode(tb.url)).toBe(0); // still serving
    } finally {
      await tb.close();
    }
  });
});

describe('nestmq passwd round trip', () => {
  async function passwd(args: string[], input = ''): Promise<number> {
    const stdin = new PassThrough();
    stdin.end(input);
    return runPasswd(args, { stdin, stdout: new PassThrough(), stderr: new PassThrough() } as PasswdIO);
  }

  it('a file written by nestmq passwd is accepted by the broker; updates and deletes apply on reload', async () => {
    const dir = tmp();
    const file = join(dir, 'passwd');
    expect(await passwd(['-c', '--cost', '4', '-b', file, 'alice', 'alice-pw'])).toBe(0);
    expect(await passwd(['--cost', '4', '--batch', file], 'bob:bob-pw\ncarol:carol:pw\n')).toBe(0);
    const tb = await TestBroker.start({ auth: { plugins: ['auth.file'], 'allow-anonymous': false, 'password-file': file } });
    try {
      expect(await connackCode(tb.url, { username: 'alice', password: 'alice-pw' })).toBe(0);
      expect(await connackCode(tb.url, { username: 'bob', password: 'bob-pw' })).toBe(0);
      expect(await connackCode(tb.url, { username: 'carol', password: 'carol:pw' })).toBe(0);
      expect(await connackCode(tb.url, { username: 'alice', password: 'bob-pw' })).toBe(4);
      expect(await passwd(['--cost', '4', file, 'alice'], 'changed\n')).toBe(0);
      expect(await passwd(['-D', file, 'bob'])).toBe(0);
      await tb.broker.reloadAuth();
      expect(await connackCode(tb.url, { username: 'alice', password: 'alice-pw' })).toBe(4);
      expect(await connackCode(tb.url, { username: 'alice', password: 'changed' })).toBe(0);
      expect(await connackCode(tb.url, { username: 'bob', password: 'bob-pw' })).toBe(4);
    } finally {
      await tb.close();
    }
  });
});

describe('nestmq passwd through the command line (node dist/main.js passwd)', () => {
  const main = join(__dirname, '..', '..', 'dist', 'main.js');
  function bin(args: string[], input = ''): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [main, 'passwd', ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.once('exit', (code) => resolve({ code, stderr }));
      child.stdin.end(input);
    });
  }

  it('a file it writes (-c -b, piped stdin, --batch) is accepted by the broker; -D removes a user', async () => {
    const dir = tmp();
    const file = join(dir, 'passwd');
    expect((await bin(['-c', '--cost', '4', '-b', file, 'alice', 'alice-pw'])).code).toBe(0);
    expect((await bin(['--cost', '4', file, 'bob'], 'bob-pw\n')).code).toBe(0);
    expect((await bin(['--cost', '4', '--batch', file], 'carol:carol-pw\ndave:dave-pw\n')).code).toBe(0);
    expect((await bin(['-D', file, 'dave'])).code).toBe(0);
    const missing = await bin(['-D', file, 'dave']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/not in/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const tb = await TestBroker.start({ auth: { plugins: ['auth.file'], 'allow-anonymous': false, 'password-file': file } });
    try {
      for (const u of ['alice', 'bob', 'carol']) expect(await connackCode(tb.url, { username: u, password: `${u}-pw` })).toBe(0);
      expect(await connackCode(tb.url, { username: 'dave', password: 'dave-pw' })).toBe(4);
    } finally {
      await tb.close();
    }
  });
});

describe('plugin events (hbmqtt on_broker_* methods)', () => {
  it('a plugin receives the broker events it handles; a throwing handler is reported and changes nothing', async () => {
    const seen: string[] = [];
    const observer: BrokerPlugin = {
      name: 'observer',
      events: {
        started: () => void seen.push('started'),
        clientConnected: (e) => void seen.push(`connected ${e.clientId} ${e.username}`),
        clientSubscribed: (e) => void seen.push(`subscribed ${e.clientId} ${e.filter} ${e.qos}`),
        messageReceived: (e) => void seen.push(`message ${e.topic} ${e.payload.toString()}`),
        clientDisconnected: (e) => void seen.push(`disconnected ${e.clientId} ${e.reason}`),
      },
    };
    const broken: BrokerPlugin = {
      name: 'broken',
      events: {
        clientConnected: () => {
          throw new Error('handler bug');
        },
        messageReceived: async () => Promise.reject(new Error('async handler bug')),
      },
    };
    const dir = tmp();
    const file = join(dir, 'passwd');
    writeFileSync(file, `alice:${await hashPassword('pw', 4)}\n`);
    const warnings: string[] = [];
    const tb = await TestBroker.start({ auth: { plugins: ['auth.file'], 'password-file': file } }, { plugins: [observer, broken] });
    tb.broker.on('warning', (e) => warnings.push(e.message));
    try {
      const c = await tb.client({ clientId: 'ev-1', username: 'alice', password: 'pw' });
      await subscribeCodes(c, ['t/#']);
      const got = nextMessage(c);
      await publishAcked(c, 't/1', 'hello');
      await got;
      const disconnected = nextEvent(tb.broker, 'clientDisconnected');
      c.end();
      await disconnected; // the observer plugin's listener was registered first: it has seen it too
      expect(seen).toEqual(['started', 'connected ev-1 alice', 'subscribed ev-1 t/# 1', 'message t/1 hello', 'disconnected ev-1 disconnect']);
      expect(warnings).toEqual(['plugin broken failed in events.clientConnected: handler bug', 'plugin broken failed in events.messageReceived: async handler bug']);
    } finally {
      await tb.close();
    }
  });
});
