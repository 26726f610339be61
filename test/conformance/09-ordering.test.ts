/**
 * Conformance, section 4.6 message ordering: acknowledgements in arrival order, resends in their
 * original order, and per-publisher, per-topic order to every subscriber.
 */
import type { ClientInfo } from '../../src';
import { sleep, useBroker } from '../helpers/conformance';
import { T, connack, idOf, puback, publish, pubrec, readPublish, type RawClient } from '../helpers/raw';

/** Reads `n` PUBLISHes, acknowledging each QoS 1 one, and returns their payloads as numbers. */
async function readNumbers(c: RawClient, n: number, ms = 10000): Promise<number[]> {
  const out: number[] = [];
  const deadline = Date.now() + ms;
  while (out.length < n) {
    const m = await c.nextPublish(Math.max(1, deadline - Date.now()));
    out.push(Number(m.payload.toString()));
    if (m.qos === 1) c.send(puback(m.id!));
  }
  return out;
}

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

describe('4.6 ordering', () => {
  const h = useBroker();

  it('[MQTT-4.6.0-1] 5 unacknowledged QoS 1 deliveries are re-sent after reconnect in the order they were first sent', async () => {
    const s = await h().connected({ clientId: 's', clean: false });
    await s.subscribe(1, ['t', 1]);
    const pub = await h().connected({ clientId: 'pub' });
    for (let i = 0; i < 5; i++) pub.send(publish({ topic: 't', payload: `${i}`, qos: 1, id: i + 1 }));
    const first = (await s.take(5)).map(readPublish);
    s.destroy();
    await h().gone('s');
    const back = await h().connected({ clientId: 's', clean: false }, connack(1, 0));
    const again = (await back.take(5)).map(readPublish);
    expect(again.map((m) => [m.id, m.dup, m.payload.toString()])).toEqual(first.map((m) => [m.id, true, m.payload.toString()]));
  });

  it('[MQTT-4.6.0-2] 100 back-to-back QoS 1 PUBLISHes in one write: PUBACKs in send order', async () => {
    const c = await h().connected({ clientId: 'c' });
    const ids = range(1, 100).map((i) => (i * 7919) % 65535 || 1);
    c.send(...ids.map((id) => publish({ topic: 't', payload: 'x', qos: 1, id })));
    const acks = await c.take(100);
    expect(acks.map((p) => [p.type, idOf(p)])).toEqual(ids.map((id) => [T.PUBACK, id]));
  });

  it('[MQTT-4.6.0-3] 100 back-to-back QoS 2 PUBLISHes in one write: PUBRECs in send order', async () => {
    const c = await h().connected({ clientId: 'c' });
    const ids = range(1, 100).map((i) => 65535 - i * 13);
    c.send(...ids.map((id) => publish({ topic: 't', payload: 'x', qos: 2, id })));
    const recs = await c.take(100);
    expect(recs.map((p) => [p.type, idOf(p)])).toEqual(ids.map((id) => [T.PUBREC, id]));
  });

  it('[MQTT-4.6.0-4] PUBRECs sent for deliveries 3, 1, 2 are answered by PUBRELs 3, 1, 2', async () => {
    const s = await h().connected({ clientId: 's' });
    await s.subscribe(1, ['t', 2]);
    const pub = await h().connected({ clientId: 'pub' });
    for (let i = 1; i <= 3; i++) await pub.publish({ topic: 't', payload: `${i}`, qos: 2, id: i });
    const ms = (await s.take(3)).map(readPublish);
    const order = [ms[2].id!, ms[0].id!, ms[1].id!];
    s.send(...order.map(pubrec));
    const rels = await s.take(3);
    expect(rels.map((p) => [p.type, idOf(p)])).toEqual(order.map((id) => [T.PUBREL, id]));
  });

  it('[MQTT-4.6.0-5] [MQTT-4.6.0-6] default configuration: 1000 numbered QoS 1 publishes reach each of 2 subscribers in publish order', async () => {
    const a = await h().connected({ clientId: 'a' });
    await a.subscribe(1, ['seq', 1]);
    const b = await h().connected({ clientId: 'b' });
    await b.subscribe(1, ['seq/#', 2]);
    const pub = await h().connected({ clientId: 'pub' });
    for (let i = 0; i < 1000; i += 100) {
      pub.send(...range(i, 100).map((n) => publish({ topic: 'seq', payload: `${n}`, qos: 1, id: n + 1 })));
    }
    const [ga, gb] = await Promise.all([readNumbers(a, 1000), readNumbers(b, 1000)]);
    expect(ga).toEqual(range(0, 1000));
    expect(gb).toEqual(range(0, 1000));
  });

  it('[MQTT-4.6.0-6] QoS 0 messages of one publisher on one topic arrive in order (500 in one write)', async () => {
    const s = await h().connected({ clientId: 's' });
    await s.subscribe(1, ['q0', 0]);
    const pub = await h().connected({ clientId: 'pub' });
    pub.send(...range(0, 500).map((n) => publish({ topic: 'q0', payload: `${n}` })));
    expect(await readNumbers(s, 500)).toEqual(range(0, 500));
  });

  it('[MQTT-4.6.0-6] on reconnect the stored queue is delivered before the live traffic that keeps arriving', async () => {
    const s = await h().connected({ clientId: 's', clean: false });
    await s.subscribe(1, ['seq', 1]);
    s.send(Buffer.from([0xe0, 0]));
    await s.waitClosed();
    const pub = await h().connected({ clientId: 'pub' });
    for (let n = 0; n < 50; n++) pub.send(publish({ topic: 'seq', payload: `${n}`, qos: 1, id: n + 1 }));
    await pub.take(50);
    let n = 50;
    let stop = false;
    const live = (async () => {
      while (!stop && n < 150) {
        pub.send(publish({ topic: 'seq', payload: `${n}`, qos: 1, id: n + 1 }));
        n++;
        if (n % 10 === 0) await sleep(1);
      }
    })();
    const back = await h().connected({ clientId: 's', clean: false }, connack(1, 0));
    const got = await readNumbers(back, 150);
    stop = true;
    await live;
    expect(got).toEqual(range(0, 150));
  });
});

describe('4.6 ordering with a small in-flight window', () => {
  const h = useBroker({ limits: { 'max-inflight-messages': 2 } });

  it('[MQTT-4.6.0-6] with max-inflight-messages 2, only 2 deliveries are outstanding; the rest follow in order as acknowledgements arrive', async () => {
    const s = await h().connected({ clientId: 's' });
    await s.subscribe(1, ['t', 1]);
    const pub = await h().connected({ clientId: 'pub' });
    for (let i = 0; i < 10; i++) pub.send(publish({ topic: 't', payload: `${i}`, qos: 1, id: i + 1 }));
    const firstTwo = (await s.take(2)).map(readPublish);
    await h().expectNothing(s);
    expect(h().broker.client('s')!.queued).toBe(8);
    s.send(...firstTwo.map((m) => puback(m.id!)));
    const rest = await readNumbers(s, 8);
    expect([...firstTwo.map((m) => Number(m.payload.toString())), ...rest]).toEqual(range(0, 10));
  });
});

describe('4.6 ordering with an asynchronous authorisation plugin', () => {
  const h = useBroker({}, () => ({
    plugins: [
      {
        // Random delays: a broker that awaited each publish independently would reorder acks.
        authorizePublish: (_c: ClientInfo, topic: string) =>
          new Promise<boolean>((r) => setTimeout(() => r(true), topic === 'slow' ? 15 : Math.random() * 3)),
      },
    ],
  }));

  it('[MQTT-4.6.0-2] [MQTT-4.6.0-6] PUBACKs and deliveries keep arrival order even when authorisation answers asynchronously with varying delays', async () => {
    const s = await h().connected({ clientId: 's' });
    await s.subscribe(1, ['+', 1]);
    const c = await h().connected({ clientId: 'c' });
    c.send(...range(0, 40).map((n) => publish({ topic: n % 7 === 0 ? 'slow' : 'fast', payload: `${n}`, qos: 1, id: n + 1 })));
    const acks = await c.take(40, 5000);
    expect(acks.map(idOf)).toEqual(range(1, 40));
    expect(await readNumbers(s, 40)).toEqual(range(0, 40));
  });
});
