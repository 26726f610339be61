/**
 * Attacks from the hardening review, performed over real sockets against a running broker:
 *  - a read-only subscriber that never acknowledges must not freeze another user's publisher
 *    for longer than max-publisher-pause (one subscriber or ten, in total);
 *  - sessions are bounded in total and per username (CONNACK 0x03 beyond);
 *  - one party filling the shared queue budget cannot make another session lose an
 *    acknowledged QoS 1 message (each session's reserve, max-queued-bytes-per-session).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { sleep, useBroker } from '../helpers/conformance';
import { PINGREQ, type RawClient, T, connack, puback, publish, readPublish } from '../helpers/raw';

// ---- max-publisher-pause -------------------------------------------------------------------

/**
 * A QoS 1 publisher that keeps 10 PUBLISHes outstanding for `ms` and sends a PINGREQ every
 * 100 ms; reports the longest wait for a PUBACK or a PINGRESP (the stall) and how many
 * PUBACKs it got.
 */
async function publishContinuously(pub: RawClient, topic: string, ms: number): Promise<{ acked: number; stall: number; pingWait: number }> {
  const WINDOW = 10;
  const t0 = Date.now();
  let sent = 0;
  let acked = 0;
  let lastAck = t0;
  let stall = 0;
  let pingSentAt = 0;
  let pingWait = 0;
  let nextPing = t0;
  const send = (): void => {
    sent++;
    pub.send(publish({ topic, payload: `m${sent}`, qos: 1, id: ((sent - 1) % 65535) + 1 }));
  };
  for (let i = 0; i < WINDOW; i++) send();
  while (Date.now() - t0 < ms) {
    const now = Date.now();
    if (pingSentAt === 0 && now >= nextPing) {
      pingSentAt = now;
      pub.send(PINGREQ);
    }
    let p;
    try {
      p = await pub.next(Math.max(1, Math.min(100, t0 + ms - now)));
    } catch {
      // No packet within 100 ms: measure the stall so far and keep waiting.
      stall = Math.max(stall, Date.now() - lastAck);
      if (pingSentAt !== 0) pingWait = Math.max(pingWait, Date.now() - pingSentAt);
      if (pub.closed) throw new Error('publisher closed');
      continue;
    }
    const at = Date.now();
    if (p.type === T.PUBACK) {
      stall = Math.max(stall, at - lastAck);
      lastAck = at;
      acked++;
      if (Date.now() - t0 < ms) send();
    } else if (p.type === T.PINGRESP) {
      pingWait = Math.max(pingWait, at - pingSentAt);
      pingSentAt = 0;
      nextPing = at + 100;
    }
  }
  stall = Math.max(stall, Date.now() - lastAck);
  if (pingSentAt !== 0) pingWait = Math.max(pingWait, Date.now() - pingSentAt);
  return { acked, stall, pingWait };
}

describe.each([1, 10])('max-publisher-pause (0.5 s here): %i read-only subscriber(s) that never acknowledge', (subscribers) => {
  const BOUND_MS = 500;
  const h = useBroker({
    listeners: { tcp: { type: 'tcp', bind: '127.0.0.1:0' } },
    limits: { 'max-inflight-messages': 5, 'max-queued-messages': 20, 'max-publisher-pause': BOUND_MS / 1000 },
  });

  it('the publisher (another user) is held back at most the bound in total, then keeps getting PUBACKs and PINGRESPs; the stuck subscribers pay (closed at twice the queue, counted); a well-behaved subscriber gets every acknowledged message', async () => {
    const good = await h().client({ clientId: 'good', username: 'reader' });
    await good.subscribeAsync('shared/#', { qos: 1 });
    const goodGot: string[] = [];
    good.on('message', (_t, payload) => void goodGot.push(payload.toString()));
    const stuck: RawClient[] = [];
    for (let i = 0; i < subscribers; i++) {
      const s = await h().connected({ clientId: `stuck-${i}`, username: 'reader' });
      await s.subscribe(1, ['shared/#', 1]); // never acknowledges what it gets
      stuck.push(s);
    }
    const pub = await h().connected({ clientId: 'pub-a', username: 'user-a' });

    const result = await publishContinuously(pub, 'shared/x', 2500);
    console.log(`${subscribers} stuck subscriber(s): ${result.acked} PUBACKs in 2.5 s, longest stall ${result.stall} ms, longest PINGRESP wait ${result.pingWait} ms`);
    const margin = 700; // a loaded CI machine
    expect(result.stall).toBeLessThan(BOUND_MS + margin);
    expect(result.pingWait).toBeLessThan(BOUND_MS + margin);
    expect(result.acked).toBeGreaterThan(200);
    expect(h().broker.stats.publisherPauseExpired).toBe(1);
    // The stuck ones were closed once their queues reached twice max-queued-messages.
    for (const s of stuck) await s.waitClosed(2000);
    expect(h().broker.stats.closedQueueOverflow).toBe(subscribers);

    // Every message the publisher had acknowledged reached the subscriber that acknowledges.
    const deadline = Date.now() + 5000;
    while (goodGot.length < result.acked && Date.now() < deadline) await sleep(20);
    expect(goodGot.slice(0, result.acked)).toEqual(Array.from({ length: result.acked }, (_, i) => `m${i + 1}`));
  }, 20000);
});

// ---- max-sessions / max-sessions-per-user --------------------------------------------------

describe('max-sessions (5 here) and max-sessions-per-user (2 here)', () => {
  const h = useBroker({
    listeners: { tcp: { type: 'tcp', bind: '127.0.0.1:0' } },
    limits: { 'max-sessions': 5, 'max-sessions-per-user': 2 },
  });
  const REFUSED = connack(0, 3);

  it('a user beyond its sessions gets CONNACK 0x03 and is counted; resuming its sessions is always allowed; anonymous clients are bounded by the total only; the total limit holds for everybody', async () => {
    // The attacker's two persistent sessions, left behind.
    for (const id of ['att-1', 'att-2']) {
      const c = await h().connected({ clientId: id, clean: false, username: 'attacker' });
      c.destroy();
      await h().gone(id);
    }
    const third = await h().raw();
    await third.connect({ clientId: 'att-3', clean: false, username: 'attacker' }, REFUSED);
    await third.waitClosed(1000);
    expect(h().broker.stats.refusedSessionLimit).toBe(1);
    expect(h().broker.sessionCount).toBe(2);

    // Resuming is always allowed, and so is a clean session that replaces one of its own.
    const back = await h().connected({ clientId: 'att-1', clean: false, username: 'attacker' }, connack(1, 0));
    back.destroy();
    await h().gone('att-1');
    const replaced = await h().connected({ clientId: 'att-2', clean: true, username: 'attacker' });

    // Anonymous clients are not one user (an anonymous fleet may be larger than any per-user
    // bound): three anonymous sessions, beyond max-sessions-per-user, all accepted.
    const anon1 = await h().connected({ clientId: 'anon-1' });
    await h().connected({ clientId: 'anon-2', clean: false });
    await h().connected({ clientId: 'anon-3', clean: false });
    expect(h().broker.stats.refusedSessionLimit).toBe(1);

    // The total: 2 + 3 held, then no more for anybody, anonymous or not.
    const over = await h().raw();
    await over.connect({ clientId: 'victim-1', username: 'victim' }, REFUSED);
    const overAnon = await h().raw();
    await overAnon.connect({ clientId: 'anon-4' }, REFUSED);
    expect(h().broker.stats.refusedSessionLimit).toBe(3);
    expect(h().broker.sessionCount).toBe(5);

    // A clean session counts only while connected: its place is free once it leaves.
    anon1.destroy();
    await h().gone('anon-1');
    await h().connected({ clientId: 'victim-1', username: 'victim' });
    // The clean one that replaced att-2 ended with its connection: the attacker may have one more.
    replaced.destroy();
    await h().gone('att-2');
    const again = await h().raw();
    await again.connect({ clientId: 'att-4', clean: false, username: 'attacker' });
    expect(h().broker.stats.refusedSessionLimit).toBe(3);
  });
});

// ---- max-queued-bytes-per-session ----------------------------------------------------------

describe('max-queued-bytes-per-session (300 bytes here, shared max-queued-bytes 1000)', () => {
  const h = useBroker({
    listeners: { tcp: { type: 'tcp', bind: '127.0.0.1:0' } },
    limits: { 'max-queued-bytes': 1000, 'max-queued-bytes-per-session': 300, 'max-queued-messages': 50 },
  });

  it("attacker offline sessions fill the shared budget; the victim's offline session still keeps the QoS 1 message acknowledged to its publisher", async () => {
    // The victim's persistent session, subscribed and away.
    const victim = await h().client({ clientId: 'victim', username: 'victim', clean: false });
    await victim.subscribeAsync('inbox/victim', { qos: 1 });
    victim.end();
    await h().gone('victim');
    // The attacker's five persistent sessions, subscribed to its own topic, away.
    for (let i = 0; i < 5; i++) {
      const c = await h().client({ clientId: `att-${i}`, username: 'attacker', clean: false });
      await c.subscribeAsync('att/#', { qos: 1 });
      c.end();
      await h().gone(`att-${i}`);
    }
    // The attacker publishes until its queues take nothing more.
    const att = await h().connected({ clientId: 'att-pub', username: 'attacker' });
    let id = 0;
    while (h().broker.stats.droppedQueueFull === 0 && id < 200) {
      await att.publish({ topic: 'att/x', payload: Buffer.alloc(100, 1), qos: 1, id: ++id });
    }
    expect(h().broker.stats.droppedQueueFull).toBeGreaterThan(0);

    // Someone else publishes to the victim: acknowledged, so it must be kept.
    const pub = await h().connected({ clientId: 'friend', username: 'friend' });
    await pub.publish({ topic: 'inbox/victim', payload: Buffer.alloc(200, 7), qos: 1, id: 1 });
    const dropped = h().broker.stats.droppedQueueFull;

    const back = await h().raw();
    await back.connect({ clientId: 'victim', username: 'victim', clean: false }, connack(1, 0));
    const p = readPublish(await back.next());
    expect([p.topic, p.payload.length]).toEqual(['inbox/victim', 200]);
    back.send(puback(p.id!));
    expect(h().broker.stats.droppedQueueFull).toBe(dropped);
  });
});

// ---- max-publisher-pause across subscribers whose sockets are behind -----------------------

/** A subscriber (QoS 0, `fan/#`) with a 4 KiB receive buffer that never reads after its SUBACK. */
const PY_NEVER_READS = String.raw`
import socket, struct, sys, time
def rl(n):
    out = bytearray()
    while True:
        d = n % 128; n //= 128
        out.append(d | (0x80 if n else 0))
        if not n: return bytes(out)
def pkt(first, body): return bytes([first]) + rl(len(body)) + body
def s16(b): return struct.pack('>H', len(b)) + b
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(('127.0.0.1', int(sys.argv[1])))
s.sendall(pkt(0x10, s16(b'MQTT') + b'\x04\x02\x00\x00' + s16(sys.argv[2].encode())) + pkt(0x82, b'\x00\x01' + s16(b'fan/#') + b'\x00'))
got = b''
while len(got) < 9: got += s.recv(9 - len(got))
print('ready', flush=True)
sys.stdin.readline()
`;

describe('max-publisher-pause (2 s here): ten subscribers that never read their sockets', () => {
  const h = useBroker({
    listeners: { tcp: { type: 'tcp', bind: '127.0.0.1:0' } },
    limits: { 'max-write-buffer': 65536, 'max-publisher-pause': 2 },
  });
  const procs: ChildProcessWithoutNullStreams[] = [];
  afterEach(() => {
    for (const p of procs.splice(0)) p.kill();
  });

  it('hold the publisher 2 s in total, not one slow-consumer grace period (1 s) each in a row', async () => {
    for (let i = 0; i < 10; i++) {
      const p = spawn('python3', ['-c', PY_NEVER_READS, String(h().port), `deaf-${i}`]);
      procs.push(p);
      await new Promise<void>((resolve, reject) => {
        p.stdout.once('data', () => resolve());
        p.once('exit', () => reject(new Error('python subscriber exited')));
      });
    }
    // Killed before the broker closes (its shutdown would wait on their full sockets).
    const exited = procs.map((p) => new Promise<void>((r) => p.once('exit', () => r())));
    try {
      await publishToDeaf();
    } finally {
      for (const p of procs.splice(0)) p.kill();
      await Promise.all(exited);
    }
  }, 30000);

  async function publishToDeaf(): Promise<void> {
    const pub = await h().client({ clientId: 'fan-pub', username: 'user-a' });
    const payload = Buffer.alloc(8192, 1);
    const t0 = Date.now();
    let last = t0;
    let stalled = 0;
    for (let i = 0; i < 400; i++) {
      await pub.publishAsync('fan/t', payload, { qos: 1 });
      const now = Date.now();
      if (now - last > 100) stalled += now - last;
      last = now;
    }
    console.log(`10 subscribers that never read: 400 publishes in ${Date.now() - t0} ms, publisher stalled ${stalled} ms in total`);
    expect(stalled).toBeGreaterThanOrEqual(1000); // flow control did act
    expect(stalled).toBeLessThan(2000 + 800);
    expect(h().broker.stats.droppedSlowConsumer).toBeGreaterThan(0);
  }
});
