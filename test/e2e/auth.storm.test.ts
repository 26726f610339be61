/**
 * Login storm: 1,000 CONNECTs with unknown users and random passwords, each socket closed at
 * once, sent as fast as possible from the same loopback address as the real user. With the
 * verifications bounded (and dropped when their socket has closed) the real, uncached user at a
 * realistic bcrypt cost (10, as bench/auth-storm.mjs) still gets in within 2 s.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { hashPassword } from '../../src/core/auth/hashes';
import { TestBroker } from '../helpers/broker';
import { connack, connect, RawClient, T } from '../helpers/raw';
import { tmp } from './auth.helpers';

const STORM = 1000;

/** Opens `n` sockets at once; each sends a CONNECT for an unknown user and closes immediately. Resolves once all have closed. */
function storm(port: number, n: number): Promise<void> {
  let open = n;
  return new Promise((resolve) => {
    for (let i = 0; i < n; i++) {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => undefined);
      s.once('connect', () => {
        s.write(connect({ clientId: `storm-${i}`, username: `ghost-${i}`, password: randomBytes(12).toString('hex') }));
        s.destroy();
      });
      s.once('close', () => {
        if (--open === 0) resolve();
      });
    }
  });
}

/** Resolves with the CONNACK of a raw CONNECT. */
async function connackOf(port: number, username: string, password: string, ms: number): Promise<Buffer> {
  const c = await RawClient.tcp(port);
  try {
    c.send(connect({ clientId: `real-${username}`, username, password }));
    const p = await c.next(ms);
    expect(p.type).toBe(T.CONNACK);
    return p.bytes;
  } finally {
    c.destroy();
  }
}

describe('login storm of unknown users with closed sockets', () => {
  let tb: TestBroker;
  beforeAll(async () => {
    const dir = tmp();
    const file = join(dir, 'passwd');
    writeFileSync(file, `alice:${await hashPassword('alice-pw', 10)}\nbob:${await hashPassword('bob-pw', 10)}\n`);
    tb = await TestBroker.start({ auth: { plugins: ['auth.file'], 'allow-anonymous': false, 'password-file': file } });
  });
  afterAll(() => tb.close());

  it('a real user (bcrypt cost 10, not cached) logs in within 2 s right after 1,000 storm CONNECTs from the same address', async () => {
    const t0 = performance.now();
    await storm(tb.port, STORM);
    const sent = performance.now() - t0;
    const t1 = performance.now();
    // Waits up to 70 s so that a broker without the bound shows how long it really takes.
    const ack = await connackOf(tb.port, 'alice', 'alice-pw', 70_000);
    const waited = performance.now() - t1;
    console.log(`storm of ${STORM} sent in ${(sent / 1000).toFixed(2)} s; real user answered after ${(waited / 1000).toFixed(2)} s with ${ack.toString('hex')}`);
    const st = tb.broker.stats;
    console.log(`busy ${st.refusedAuthBusy}, abandoned ${st.authAbandoned}, failures refused ${st.refusedAuthFailures}`);
    expect(ack).toEqual(connack(0, 0));
    expect(waited).toBeLessThan(2000);
    expect(st.authAbandoned).toBeGreaterThan(STORM / 2); // dropped before their hash started
  }, 90_000);
});

describe('authentication limits per address', () => {
  let dir: string;
  let file: string;
  beforeAll(async () => {
    dir = tmp();
    file = join(dir, 'passwd');
    // alice at cost 4 (quick), slow at cost 12 (a verification that lasts while the test looks).
    writeFileSync(file, `alice:${await hashPassword('alice-pw', 4)}\nslow:${await hashPassword('slow-pw', 12)}\n`);
  });
  const start = (limits: Record<string, unknown>): Promise<TestBroker> =>
    TestBroker.start({ auth: { plugins: ['auth.file'], 'allow-anonymous': false, 'password-file': file }, limits });

  it('max-auth-failures-per-address: after N failed logins the address gets 0x05 at once, even with the right password', async () => {
    const tb = await start({ 'max-auth-failures-per-address': 3, 'auth-failure-window': 60 });
    try {
      for (let i = 0; i < 3; i++) expect(await connackOf(tb.port, 'alice', 'wrong', 5000)).toEqual(connack(0, 4));
      expect(await connackOf(tb.port, 'alice', 'alice-pw', 5000)).toEqual(connack(0, 5));
      expect(tb.broker.stats.refusedAuthFailures).toBe(1);
    } finally {
      await tb.close();
    }
  });

  it('auth-limits-exempt-loopback: true lets loopback clients past the failure limit', async () => {
    const tb = await start({ 'max-auth-failures-per-address': 1, 'auth-limits-exempt-loopback': true });
    try {
      for (let i = 0; i < 2; i++) expect(await connackOf(tb.port, 'alice', 'wrong', 5000)).toEqual(connack(0, 4));
      expect(await connackOf(tb.port, 'alice', 'alice-pw', 5000)).toEqual(connack(0, 0));
    } finally {
      await tb.close();
    }
  });

  /** Sends CONNECT for `slow` (cost 12) on `n` connections kept open; resolves with the clients. */
  async function slowConnects(tb: TestBroker, n: number): Promise<RawClient[]> {
    const clients: RawClient[] = [];
    for (let i = 0; i < n; i++) {
      const c = await RawClient.tcp(tb.port);
      c.send(connect({ clientId: `slow-${i}`, username: 'slow', password: `slow-pw` }));
      clients.push(c);
    }
    return clients;
  }

  for (const [key, limits] of [
    ['max-pending-auth-per-address', { 'max-concurrent-auth': 1, 'max-pending-auth-per-address': 2 }],
    ['max-pending-auth', { 'max-concurrent-auth': 1, 'max-pending-auth': 2, 'max-pending-auth-per-address': 0 }],
  ] as const) {
    it(`${key}: beyond the bound a CONNECT gets 0x03 at once; those admitted get in`, async () => {
      const tb = await start(limits);
      try {
        const [a, b, c] = await slowConnects(tb, 3);
        // The third answers first: it was refused without waiting for the two verifications.
        expect((await c.next(5000)).bytes).toEqual(connack(0, 3));
        expect(tb.broker.stats.refusedAuthBusy).toBe(1);
        expect((await a.next(20_000)).bytes).toEqual(connack(0, 0));
        expect((await b.next(20_000)).bytes).toEqual(connack(0, 0));
        for (const x of [a, b, c]) x.destroy();
      } finally {
        await tb.close();
      }
    }, 60_000);
  }
});

describe('a reconnect storm of anonymous clients from one address (auth.anonymous only)', () => {
  it('is not bounded by the verification limits: 60 CONNECTs at once from loopback, with max-pending-auth-per-address 2, all get CONNACK 0', async () => {
    // auth.anonymous decides at once from the username (cheapAuthentication): a NAT address full
    // of devices reconnecting after a restart must not be refused 0x03 by bounds meant for hashes.
    const tb = await TestBroker.start({
      auth: { plugins: ['auth.anonymous'], 'allow-anonymous': true },
      limits: { 'max-concurrent-auth': 1, 'max-pending-auth': 2, 'max-pending-auth-per-address': 2 },
    });
    const clients: RawClient[] = [];
    try {
      for (let i = 0; i < 60; i++) clients.push(await RawClient.tcp(tb.port));
      for (let i = 0; i < clients.length; i++) clients[i].send(connect({ clientId: `anon-${i}` }));
      for (const c of clients) expect((await c.next(5000)).bytes).toEqual(connack(0, 0));
      expect(tb.broker.stats.refusedAuthBusy).toBe(0);
    } finally {
      for (const c of clients) c.destroy();
      await tb.close();
    }
  });
});
