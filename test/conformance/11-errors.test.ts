/**
 * Conformance, section 4.8 handling errors: a malformed packet or a failure while handling a
 * packet closes only the connection that carried it (its Will fires); other clients carry on.
 */
import { createMemoryStores, type Stores } from '../../src';

type StoredMessage = Parameters<Stores['retained']['set']>[0];
import { useBroker } from '../helpers/conformance';
import {
  PINGREQ,
  PINGRESP,
  type RawClient,
  connect,
  field,
  hex,
  packet,
  puback,
  publish,
  readPublish,
  subscribe,
  toHex,
  u16,
  unsubscribe,
} from '../helpers/raw';

/** Malformed or forbidden packets, each sent by a connected client. */
const CORPUS: [string, Buffer][] = [
  ['PINGREQ with flags 0001', hex('c1 00')],
  ['Remaining Length of 5 bytes', hex('30 ff ff ff ff 01')],
  ['PUBLISH QoS 3', hex('36 05 00 01 74 00 01')],
  ['QoS 0 PUBLISH with DUP', hex('38 03 00 01 74')],
  ['PUBLISH topic length past the end', hex('30 03 00 05 61')],
  ['PUBLISH to a wildcard topic', publish({ topic: 'a/+', payload: 'x' })],
  ['PUBLISH with ill-formed UTF-8', publish({ topic: hex('c3 28'), payload: 'x' })],
  ['PUBLISH with an empty topic', publish({ topic: '', payload: 'x' })],
  ['QoS 1 PUBLISH with packet id 0', publish({ topic: 't', qos: 1, id: 0 })],
  ['SUBSCRIBE with QoS byte 3', subscribe(1, ['a', 3])],
  ['SUBSCRIBE without a filter', hex('82 02 00 01')],
  ['SUBSCRIBE with flags 0000', packet(0x80, u16(1), field('a'), [0])],
  ['UNSUBSCRIBE without a filter', hex('a2 02 00 01')],
  ['UNSUBSCRIBE with packet id 0', unsubscribe(0, 'a')],
  ['PUBACK with Remaining Length 3', hex('40 03 00 01 00')],
  ['PUBREL with flags 0000', hex('60 02 00 01')],
  ['reserved type 0', hex('00 00')],
  ['reserved type 15', hex('f0 00')],
  ['CONNACK from a client', hex('20 02 00 00')],
  ['second CONNECT', connect({ clientId: 'victim' })],
  ['DISCONNECT with flags 0001', hex('e1 00')],
];

describe('4.8 handling errors', () => {
  const h = useBroker();

  it('[MQTT-4.8.0-1] each of 21 malformed packets closes only its own connection and publishes its Will; a bystander keeps working throughout', async () => {
    const watcher = await h().connected({ clientId: 'watcher' });
    await watcher.subscribe(1, ['will/#', 0]);
    const bystander = await h().connected({ clientId: 'bystander' });
    await bystander.subscribe(1, ['echo', 1]);
    for (let i = 0; i < CORPUS.length; i++) {
      const [name, bytes] = CORPUS[i];
      const victim = await h().connected({ clientId: 'victim', will: { topic: `will/${i}`, payload: name } });
      victim.send(bytes);
      await victim.waitClosed().catch(() => {
        throw new Error(`${name}: connection not closed`);
      });
      expect([name, victim.inbox.map((p) => toHex(p.bytes))]).toEqual([name, []]);
      const w = await watcher.nextPublish();
      expect([w.topic, w.payload.toString()]).toEqual([`will/${i}`, name]);
      // The bystander's round trip still works.
      bystander.send(publish({ topic: 'echo', payload: `${i}`, qos: 1, id: i + 1 }));
      const got = await bystander.take(2);
      expect(got.map((p) => p.type).sort()).toEqual([3, 4]);
      const m = readPublish(got.find((p) => p.type === 3)!);
      bystander.send(puback(m.id!));
    }
    expect(h().broker.clientCount).toBe(2);
  });

  it('[MQTT-4.8.0-1] a truncated packet followed by the socket closing does not disturb anyone: the Will fires, the bystander is served', async () => {
    const watcher = await h().connected({ clientId: 'watcher' });
    await watcher.subscribe(1, ['will/#', 0]);
    const victim = await h().connected({ clientId: 'victim', will: { topic: 'will/trunc', payload: 'x' } });
    victim.send(hex('30 10 00 05 61'));
    victim.destroy();
    expect((await watcher.nextPublish()).topic).toBe('will/trunc');
    watcher.send(PINGREQ);
    await watcher.expect(PINGRESP);
  });
});

describe('4.8 packet size limit', () => {
  const h = useBroker({ limits: { 'max-packet-size': 1024 } });

  it('[MQTT-4.8.0-1] a packet announcing more than max-packet-size (1024) is refused by closing as soon as its header arrives (documented choice)', async () => {
    const c = await h().connected({ clientId: 'c' });
    c.send(hex('30 d0 0f')); // PUBLISH, Remaining Length 2000, body never sent
    await c.expectClosed(500);
    const ok = await h().connected({ clientId: 'ok' });
    ok.send(publish({ topic: 't', payload: Buffer.alloc(1000) }), PINGREQ);
    await ok.expect(PINGRESP);
  });
});

describe('4.8 transient failure while handling a packet', () => {
  let stores: Stores;
  const h = useBroker({}, () => {
    stores = createMemoryStores();
    const set = stores.retained.set.bind(stores.retained);
    // A store that fails for one topic, as a full disk or a lost database connection would.
    stores.retained.set = (msg: StoredMessage): void => {
      if (msg.topic === 'boom') throw new Error('injected store failure');
      set(msg);
    };
    return { stores };
  });

  it('[MQTT-4.8.0-2] [§4.8] a store failure on a QoS 1 retained publish closes that connection without PUBACK; its Will fires; another client is unaffected', async () => {
    const watcher = await h().connected({ clientId: 'watcher' });
    await watcher.subscribe(1, ['#', 1]);
    const a = await h().connected({ clientId: 'a', will: { topic: 'will/a', payload: 'failed' } });
    const b = await h().connected({ clientId: 'b' });
    a.send(publish({ topic: 'boom', payload: 'x', qos: 1, id: 1, retain: true }));
    await a.expectClosed();
    const w = await watcher.nextPublish();
    expect([w.topic, w.payload.toString()]).toEqual(['will/a', 'failed']);
    await b.publish({ topic: 'fine', payload: 'b', qos: 1, id: 1, retain: true });
    const m = await watcher.nextPublish();
    expect([m.topic, m.payload.toString()]).toEqual(['fine', 'b']);
    expect(stores.retained.size).toBe(1);
  });

  it('[§4.8] while one client fails repeatedly, another client\'s stream of 200 QoS 1 messages flows complete and in order', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['flow', 1]);
    const b = await h().connected({ clientId: 'b' });
    const failing: Promise<void>[] = [];
    const fail = async (k: number): Promise<void> => {
      const a: RawClient = await h().connected({ clientId: `a${k}` });
      a.send(publish({ topic: 'boom', payload: 'x', qos: 1, id: 1, retain: true }));
      await a.expectClosed();
    };
    for (let i = 0; i < 200; i++) {
      b.send(publish({ topic: 'flow', payload: `${i}`, qos: 1, id: i + 1 }));
      if (i % 40 === 0) failing.push(fail(i));
    }
    await Promise.all(failing);
    const got: number[] = [];
    while (got.length < 200) {
      const m = await sub.nextPublish();
      got.push(Number(m.payload.toString()));
      sub.send(puback(m.id!));
    }
    expect(got).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });
});
