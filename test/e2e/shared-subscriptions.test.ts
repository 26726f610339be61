import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { TestBroker } from '../helpers/broker';
import { RawClient, T, readPublish, subscribe, suback, unsubscribe, unsuback } from '../helpers/raw';
import { waitFor } from '../helpers/wait';

/** Shared subscriptions $share/GROUP/FILTER for 3.1.1 clients (docs/shared-subscriptions.md). */

const F = 0x80;

/** Collects the payloads `client` receives from now on (strings), for the counting tests. */
function payloads(client: MqttClient): string[] {
  const got: string[] = [];
  client.on('message', (_t, p) => void got.push(p.toString()));
  return got;
}

async function publishMany(pub: MqttClient, topic: string, n: number, prefix = 'm'): Promise<void> {
  for (let i = 0; i < n; i++) await pub.publishAsync(topic, `${prefix}${i}`, { qos: 1 });
}

describe('shared subscriptions $share/GROUP/FILTER', () => {
  let tb: TestBroker;
  afterEach(() => tb?.close());

  it('round-robin: 3 members get 100 of 300 messages each, every message once; a normal subscriber and a second group each get every message', async () => {
    tb = await TestBroker.start();
    const members = await Promise.all([0, 1, 2].map((i) => tb.client({ clientId: `m${i}` })));
    for (const m of members) await m.subscribeAsync('$share/g/dist/#', { qos: 1 });
    const others = await Promise.all([0, 1].map((i) => tb.client({ clientId: `h${i}` })));
    for (const m of others) await m.subscribeAsync('$share/h/dist/+', { qos: 1 });
    const plain = await tb.client({ clientId: 'plain' });
    await plain.subscribeAsync('dist/#', { qos: 1 });
    const got = members.map(payloads);
    const gotH = others.map(payloads);
    const gotPlain = payloads(plain);
    const pub = await tb.client({ clientId: 'pub' });
    await publishMany(pub, 'dist/x', 300);
    const total = (lists: string[][]): number => lists.reduce((n, l) => n + l.length, 0);
    await waitFor(() => total(got) === 300 && total(gotH) === 300 && gotPlain.length === 300, 10_000, '300 messages per group');
    expect(got.map((l) => l.length)).toEqual([100, 100, 100]);
    expect(new Set(got.flat()).size).toBe(300);
    expect(new Set(gotH.flat()).size).toBe(300);
    expect(gotH[0].length).toBe(150);
    expect(new Set(gotPlain).size).toBe(300);
    // Nothing more arrives after a round trip: exactly once per group.
    for (const m of [...members, ...others]) await m.unsubscribeAsync('nothing');
    expect(total(got)).toBe(300);
    expect(total(gotH)).toBe(300);
  });

  it('a client both in a group and subscribed normally gets both copies', async () => {
    tb = await TestBroker.start();
    const a = await tb.client({ clientId: 'a' });
    await a.subscribeAsync(['$share/g/both', 'both'], { qos: 1 });
    const got = payloads(a);
    const pub = await tb.client();
    await pub.publishAsync('both', 'x', { qos: 1 });
    await waitFor(() => got.length === 2, 3000, 'two copies');
    await a.unsubscribeAsync('nothing');
    expect(got).toEqual(['x', 'x']);
  });

  it('random: every message delivered once among 3 members', async () => {
    tb = await TestBroker.start({ limits: { 'shared-subscription-strategy': 'random' } });
    const members = await Promise.all([0, 1, 2].map((i) => tb.client({ clientId: `r${i}` })));
    for (const m of members) await m.subscribeAsync('$share/g/rnd', { qos: 1 });
    const got = members.map(payloads);
    const pub = await tb.client();
    await publishMany(pub, 'rnd', 300);
    await waitFor(() => got.reduce((n, l) => n + l.length, 0) >= 300, 10_000, '300 messages');
    for (const m of members) await m.unsubscribeAsync('nothing');
    expect(got.reduce((n, l) => n + l.length, 0)).toBe(300);
    expect(new Set(got.flat()).size).toBe(300);
    for (const l of got) expect(l.length).toBeGreaterThan(50); // uniform: ~100 each
  });

  it('sticky: each publisher\'s messages all go to one member, which changes only when it leaves', async () => {
    tb = await TestBroker.start({ limits: { 'shared-subscription-strategy': 'sticky' } });
    const members = await Promise.all([0, 1, 2].map((i) => tb.client({ clientId: `s${i}` })));
    for (const m of members) await m.subscribeAsync('$share/g/stk', { qos: 1 });
    const got = members.map(payloads);
    const pubs = await Promise.all(['pa', 'pb', 'pc', 'pd', 'pe', 'pf'].map((id) => tb.client({ clientId: id })));
    for (let p = 0; p < pubs.length; p++) await publishMany(pubs[p], 'stk', 20, `p${p}-`);
    await waitFor(() => got.reduce((n, l) => n + l.length, 0) === 120, 10_000, '120 messages');
    const holder = (p: number): number[] => got.map((l, i) => (l.some((x) => x.startsWith(`p${p}-`)) ? i : -1)).filter((i) => i >= 0);
    for (let p = 0; p < pubs.length; p++) {
      expect(holder(p)).toHaveLength(1);
      expect(got[holder(p)[0]].filter((x) => x.startsWith(`p${p}-`))).toHaveLength(20);
    }
    // p0's member leaves: p0 moves to one other member; a publisher held by another member stays put.
    const left = holder(0)[0];
    const stayed = [1, 2, 3, 4, 5].filter((p) => holder(p)[0] !== left).map((p) => [p, holder(p)[0]]);
    await members[left].endAsync();
    for (const l of got) l.length = 0;
    for (let p = 0; p < pubs.length; p++) await publishMany(pubs[p], 'stk', 5, `p${p}-`);
    await waitFor(() => got.reduce((n, l) => n + l.length, 0) === 30, 10_000, '30 messages');
    expect(holder(0)).toHaveLength(1);
    expect(holder(0)[0]).not.toBe(left);
    for (const [p, m] of stayed) expect(holder(p)).toEqual([m]);
  });

  it('QoS 1 in flight to a member that drops (no PUBACK) is redelivered to another member; so are its queued messages', async () => {
    tb = await TestBroker.start({ limits: { 'max-inflight-messages': 2 } });
    for (const clean of [false, true]) {
      const a = await RawClient.tcp(tb.port);
      await a.connect({ clientId: `drop-${clean}`, clean });
      await a.subscribe(1, [`$share/f${clean}/fo`, 1]);
      const b = await tb.client({ clientId: `keep-${clean}` });
      await b.subscribeAsync(`$share/f${clean}/fo`, { qos: 1 });
      const gotB = payloads(b);
      const pub = await tb.client();
      await publishMany(pub, 'fo', 8);
      // a holds 2 in flight (never acknowledged) and 2 queued behind its window; b has 4.
      const inflight = await a.take(2);
      expect(inflight.every((p) => p.type === T.PUBLISH)).toBe(true);
      await waitFor(() => gotB.length === 4, 3000, 'b has its 4');
      a.destroy();
      await waitFor(() => gotB.length === 8, 3000, 'b has all 8');
      expect(new Set(gotB).size).toBe(8);
      await b.endAsync();
    }
    expect(tb.broker.stats.sharedRedispatched).toBe(8);
  });

  it('QoS 2 in flight stays with its member (completed when it returns) [v5 MQTT-4.8.2-4]', async () => {
    tb = await TestBroker.start();
    const a = await RawClient.tcp(tb.port);
    await a.connect({ clientId: 'q2', clean: false });
    await a.subscribe(1, ['$share/g/q2', 2]);
    const b = await tb.client({ clientId: 'q2b' });
    await b.subscribeAsync('$share/g/q2', { qos: 2 });
    const gotB = payloads(b);
    const pub = await tb.client();
    await pub.publishAsync('q2', 'first', { qos: 2 }); // round-robin: a (joined first)
    const p = readPublish(await a.next());
    expect(p.payload.toString()).toBe('first');
    a.destroy();
    await waitFor(() => tb.broker.clientCount === 2, 3000, 'a gone');
    await b.unsubscribeAsync('nothing');
    expect(gotB).toEqual([]);
    const back = await RawClient.tcp(tb.port);
    await back.connect({ clientId: 'q2', clean: false }, Buffer.from([0x20, 0x02, 0x01, 0x00]));
    const resent = readPublish(await back.next());
    expect(resent).toMatchObject({ qos: 2, dup: true, id: p.id });
    back.destroy();
  });

  it('no retained messages on a shared subscription', async () => {
    tb = await TestBroker.start();
    const pub = await tb.client();
    await pub.publishAsync('ret/t', 'kept', { qos: 1, retain: true });
    const a = await RawClient.tcp(tb.port);
    await a.connect({ clientId: 'ret' });
    await a.subscribe(1, ['$share/g/ret/#', 1]);
    await pub.publishAsync('ret/t', 'live', { qos: 0 });
    const first = readPublish(await a.next());
    expect({ payload: first.payload.toString(), retain: first.retain }).toEqual({ payload: 'live', retain: false });
  });

  it('unsubscribing $share/g/f leaves the group: the other member gets everything', async () => {
    tb = await TestBroker.start();
    const a = await tb.client({ clientId: 'ua' });
    const b = await tb.client({ clientId: 'ub' });
    for (const m of [a, b]) await m.subscribeAsync('$share/g/un', { qos: 1 });
    await a.unsubscribeAsync('$share/g/un');
    const gotA = payloads(a);
    const gotB = payloads(b);
    const pub = await tb.client();
    await publishMany(pub, 'un', 10);
    await waitFor(() => gotB.length === 10, 3000, 'b has 10');
    await a.unsubscribeAsync('nothing');
    expect(gotA).toEqual([]);
  });

  it('ill-formed shared filters get SUBACK 0x80 [v5 MQTT-4.8.2-1/2]; $share/g//finance is valid', async () => {
    tb = await TestBroker.start();
    const c = await RawClient.tcp(tb.port);
    await c.connect({ clientId: 'bad' });
    const bad = ['$share//a', '$share/g', '$share/g/', '$share/g+/a', '$share/g#/a', '$share/g/a#', '$share/g/a/#/b', '$share/+/a', '$share/#'];
    c.send(subscribe(7, ...bad.map((f): [string, number] => [f, 1]), ['$share/g//finance', 1]));
    await c.expect(suback(7, ...bad.map(() => F), 1));
    const pub = await tb.client();
    await pub.publishAsync('/finance', 'f', { qos: 0 });
    expect(readPublish(await c.next()).topic).toBe('/finance');
  });

  it('limits: max-shared-group-members, max-shared-groups, and memberships count toward max-subscriptions', async () => {
    tb = await TestBroker.start({ limits: { 'max-shared-group-members': 2, 'max-shared-groups': 2, 'max-subscriptions': 2 } });
    const cs: RawClient[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await RawClient.tcp(tb.port);
      await c.connect({ clientId: `l${i}` });
      cs.push(c);
    }
    await cs[0].subscribe(1, ['$share/g/a', 1]);
    await cs[1].subscribe(1, ['$share/g/a', 1]);
    cs[2].send(subscribe(1, ['$share/g/a', 1])); // a third member
    await cs[2].expect(suback(1, F));
    await cs[2].subscribe(2, ['$share/h/a', 1]); // a second group
    cs[2].send(subscribe(3, ['$share/i/a', 1])); // a third group
    await cs[2].expect(suback(3, F));
    expect(tb.broker.stats.refusedSharedLimit).toBe(2);
    // cs[0]: one membership + one normal subscription = max-subscriptions; a second group is refused.
    await cs[0].subscribe(2, ['plain', 1]);
    cs[0].send(subscribe(3, ['$share/h/a', 1]));
    await cs[0].expect(suback(3, F));
    expect(tb.broker.stats.refusedSubscriptionLimit).toBe(1);
    // Leaving frees the place: after cs[1] unsubscribes, cs[2] may join g.
    cs[1].send(unsubscribe(4, '$share/g/a'));
    await cs[1].expect(unsuback(4));
    await cs[2].subscribe(5, ['$share/g/a', 1]);
    // A session's end frees its memberships: a new group fits once cs[2]'s session (clean) ends.
    cs[2].destroy();
    await waitFor(() => tb.broker.clientCount === 2, 3000, 'cs[2] gone');
    await cs[1].subscribe(6, ['$share/i/a', 1]);
  });

  it('ACLs: authorizeSubscribe sees the inner filter', async () => {
    tb = await TestBroker.start({ 'topic-check': { enabled: true, plugins: ['topic_acl'], acl: { anonymous: ['public/#'] } } });
    const c = await RawClient.tcp(tb.port);
    await c.connect({ clientId: 'acl' });
    c.send(subscribe(1, ['$share/g/public/#', 1], ['$share/g/home/#', 1]));
    await c.expect(suback(1, 1, F));
  });

  it('SQLite: memberships survive a restart', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'nestmq-shared-')), 'db.sqlite');
    const config = { persistence: { backend: 'sqlite' as const, path } };
    tb = await TestBroker.start(config);
    for (const id of ['pa', 'pb']) {
      const c = await tb.client({ clientId: id, clean: false });
      await c.subscribeAsync('$share/g/persist', { qos: 1 });
    }
    await tb.close();
    tb = await TestBroker.start(config);
    const members = await Promise.all(['pa', 'pb'].map((id) => tb.client({ clientId: id, clean: false })));
    const got = members.map(payloads);
    const pub = await tb.client();
    await publishMany(pub, 'persist', 10);
    await waitFor(() => got[0].length + got[1].length === 10, 3000, '10 messages');
    expect(got.map((l) => l.length)).toEqual([5, 5]);
    for (const m of members) await m.unsubscribeAsync('nothing');
    expect(got[0].length + got[1].length).toBe(10);
  });

  it('mosquitto_sub -t \'$share/g/t\' is a member', async () => {
    tb = await TestBroker.start();
    const other = await tb.client({ clientId: 'mq-other' });
    await other.subscribeAsync('$share/g/mq', { qos: 1 });
    const gotOther = payloads(other);
    const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(tb.port), '-q', '1', '-t', '$share/g/mq', '-C', '2', '-W', '5']);
    let out = '';
    sub.stdout.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => sub.once('exit', r));
    await waitFor(() => tb.broker.subscriptionList().filter((s) => s.filter === '$share/g/mq').length === 2, 3000, 'mosquitto_sub subscribed');
    const pub = await tb.client();
    await publishMany(pub, 'mq', 4);
    expect(await exited).toBe(0);
    expect(out.split('\n').filter(Boolean)).toHaveLength(2);
    await waitFor(() => gotOther.length === 2, 3000, 'the other member has 2');
  });
});
