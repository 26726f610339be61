/**
 * MQTT 5 conformance, sections 3.4-3.7 (acknowledgement basics), 4.3 QoS flows, 4.4 delivery
 * retry (only on reconnect with a session, never on a live connection), 4.6 ordering. Raw bytes.
 * Failure Reason Codes on acknowledgements are tested with Receive Maximum (09-*).
 */
import { PacketType } from '../../../src/core/protocol/packets';
import { useBroker } from '../../helpers/conformance';
import { hex, toHex, u16 } from '../../helpers/raw';
import { ack5, closedWith, connected5, disconnect5, publish5, readPublish5, sub5 } from '../../helpers/v5-raw';

const persistent = { cleanSession: false, properties: { sessionExpiryInterval: 300 } };

describe('v5 4.3 QoS flows, 4.4 retry, 4.6 ordering', () => {
  const h = useBroker({ limits: { 'session-expiry': 3600 } });

  /** A persistent subscriber to `t` at QoS 2, and a publisher. */
  async function pair(): Promise<{ s: Awaited<ReturnType<typeof connected5>>; p: Awaited<ReturnType<typeof connected5>> }> {
    const s = await connected5(h(), 's', persistent);
    await sub5(s, 1, [{ topic: 't', qos: 2 }]);
    const p = await connected5(h(), 'p');
    return { s, p };
  }

  /** Publishes QoS 1 or 2 from `p` and completes its flow as a client. */
  async function send(p: Awaited<ReturnType<typeof connected5>>, payload: string, qos: 1 | 2, id: number): Promise<void> {
    p.send(publish5('t', payload, qos, id));
    await p.next();
    if (qos === 2) {
      p.send(ack5(PacketType.PUBREL, id));
      await p.next();
    }
  }

  it('v5 [MQTT-3.6.1-1] a PUBREL with flags 0000 (60 02 00 01): DISCONNECT 0x81, the close', async () => {
    const c = await connected5(h(), 'c');
    c.send(publish5('t', 'x', 2, 1));
    await c.next();
    c.send(hex('60 02 00 01'));
    expect(await closedWith(c)).toBe(0x81);
  });

  it('v5 [MQTT-4.4.0-1] [MQTT-3.3.1-1] [MQTT-4.3.2-3] an unacknowledged QoS 1 delivery is not resent on the live connection, and is resent with DUP 1 and the same id on reconnect with the session', async () => {
    const { s, p } = await pair();
    await send(p, 'm', 1, 1);
    const first = readPublish5(await s.next());
    expect([first.qos, first.dup]).toEqual([1, false]);
    await s.nothing(1500);
    s.destroy();
    await h().gone('s');
    const again = await connected5(h(), 's', persistent);
    expect(again.connack.sessionPresent).toBe(true);
    const resent = readPublish5(await again.next());
    expect([resent.payload.toString(), resent.qos, resent.dup, resent.id]).toEqual(['m', 1, true, first.id]);
  });

  it('v5 [MQTT-4.4.0-1] [MQTT-4.3.3-3] an unacknowledged QoS 2 delivery (no PUBREC) is resent with DUP 1 and the same id on reconnect, not before', async () => {
    const { s, p } = await pair();
    await send(p, 'm', 2, 1);
    const first = readPublish5(await s.next());
    await s.nothing(1500);
    s.destroy();
    await h().gone('s');
    const again = await connected5(h(), 's', persistent);
    const resent = readPublish5(await again.next());
    expect([resent.payload.toString(), resent.qos, resent.dup, resent.id]).toEqual(['m', 2, true, first.id]);
  });

  it('v5 [MQTT-4.3.3-5] [MQTT-4.3.3-6] [MQTT-4.4.0-1] after PUBREC the PUBREL is kept: on reconnect the PUBREL is resent, never the PUBLISH', async () => {
    const { s, p } = await pair();
    await send(p, 'm', 2, 1);
    const first = readPublish5(await s.next());
    s.send(ack5(PacketType.PUBREC, first.id!));
    expect(toHex((await s.next()).bytes)).toBe(toHex(Buffer.concat([hex('62 02'), u16(first.id!)])));
    s.destroy();
    await h().gone('s');
    const again = await connected5(h(), 's', persistent);
    expect(toHex((await again.next()).bytes)).toBe(toHex(Buffer.concat([hex('62 02'), u16(first.id!)])));
    again.send(ack5(PacketType.PUBCOMP, first.id!));
    await h().expectNothing(again);
  });

  it('v5 [MQTT-4.3.2-5] after its PUBACK, a QoS 1 PUBLISH reusing the id is a new message: both are delivered', async () => {
    const { s, p } = await pair();
    await send(p, 'one', 1, 7);
    await send(p, 'two', 1, 7);
    const a = readPublish5(await s.next());
    const b = readPublish5(await s.next());
    expect([a.payload.toString(), b.payload.toString()]).toEqual(['one', 'two']);
  });

  it('v5 [MQTT-4.3.3-10] a QoS 2 PUBLISH repeated (DUP 1) before PUBREL gets a second PUBREC and is delivered once', async () => {
    const { s, p } = await pair();
    p.send(publish5('t', 'once', 2, 3));
    expect(toHex((await p.next()).bytes)).toBe('50 02 00 03');
    p.send(publish5('t', 'once', 2, 3, undefined, { dup: true }));
    expect(toHex((await p.next()).bytes)).toBe('50 02 00 03');
    p.send(ack5(PacketType.PUBREL, 3));
    expect(toHex((await p.next()).bytes)).toBe('70 02 00 03');
    expect(readPublish5(await s.next()).payload.toString()).toBe('once');
    await h().expectNothing(s);
  });

  it('v5 [MQTT-4.3.3-11] every PUBREL is answered by a PUBCOMP with its id, also for an id the server does not know', async () => {
    const c = await connected5(h(), 'c');
    c.send(ack5(PacketType.PUBREL, 0x0909));
    const comp = await c.next();
    expect([comp.type, toHex(comp.bytes.subarray(2, 4))]).toEqual([7, '09 09']);
  });

  it('v5 [MQTT-4.3.3-12] after PUBCOMP, a QoS 2 PUBLISH reusing the id is a new message: two full flows with id 1, two deliveries', async () => {
    const { s, p } = await pair();
    await send(p, 'first', 2, 1);
    await send(p, 'second', 2, 1);
    const a = readPublish5(await s.next());
    const b = readPublish5(await s.next());
    expect([a.payload.toString(), b.payload.toString()]).toEqual(['first', 'second']);
  });

  it('v5 [MQTT-4.6.0-1] five unacknowledged QoS 1 deliveries are resent on reconnect in their original order', async () => {
    const { s, p } = await pair();
    for (let i = 1; i <= 5; i++) await send(p, `m${i}`, 1, i);
    const ids: number[] = [];
    for (let i = 1; i <= 5; i++) ids.push(readPublish5(await s.next()).id!);
    s.destroy();
    await h().gone('s');
    const again = await connected5(h(), 's', persistent);
    const resent = [];
    for (let i = 1; i <= 5; i++) resent.push(readPublish5(await again.next()));
    expect(resent.map((r) => [r.payload.toString(), r.id, r.dup])).toEqual(ids.map((id, i) => [`m${i + 1}`, id, true]));
  });

  it('v5 [MQTT-4.6.0-2] [MQTT-4.6.0-3] 100 QoS 1 and 100 QoS 2 PUBLISHes sent back to back: PUBACKs and PUBRECs come back in arrival order', async () => {
    const c = await connected5(h(), 'c');
    const batch: Buffer[] = [];
    for (let i = 1; i <= 100; i++) batch.push(publish5('t', `${i}`, 1, i), publish5('t', `${i}`, 2, 1000 + i));
    c.send(...batch);
    const acks = await c.take(200, 10000);
    const expected: string[] = [];
    for (let i = 1; i <= 100; i++) expected.push(toHex(Buffer.concat([hex('40 02'), u16(i)])), toHex(Buffer.concat([hex('50 02'), u16(1000 + i)])));
    expect(acks.map((a) => toHex(a.bytes))).toEqual(expected);
  });

  it('v5 [MQTT-4.6.0-4] PUBRELs go out in the order the PUBRECs arrived (3, 1, 2)', async () => {
    const { s, p } = await pair();
    for (let i = 1; i <= 3; i++) await send(p, `m${i}`, 2, i);
    const ids = [];
    for (let i = 1; i <= 3; i++) ids.push(readPublish5(await s.next()).id!);
    const order = [ids[2], ids[0], ids[1]];
    s.send(...order.map((id) => ack5(PacketType.PUBREC, id)));
    const rels = await s.take(3);
    expect(rels.map((r) => toHex(r.bytes))).toEqual(order.map((id) => toHex(Buffer.concat([hex('62 02'), u16(id)]))));
  });

  it('v5 [MQTT-4.6.0-5] [MQTT-4.6.0-6] 500 numbered QoS 1 messages from one publisher on one topic reach the subscriber in order (default: every topic ordered)', async () => {
    const { s, p } = await pair();
    const batch: Buffer[] = [];
    for (let i = 1; i <= 500; i++) batch.push(publish5('t', `${i}`, 1, i));
    p.send(...batch);
    const got: number[] = [];
    while (got.length < 500) {
      const d = readPublish5(await s.next(5000));
      got.push(Number(d.payload.toString()));
      s.send(ack5(PacketType.PUBACK, d.id!));
    }
    expect(got).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
  });

  it('v5 [MQTT-4.3.3-2] [MQTT-4.3.2-2] first transmissions to a subscriber carry DUP 0 at QoS 1 and 2', async () => {
    const { s, p } = await pair();
    await send(p, 'a', 1, 1);
    await send(p, 'b', 2, 2);
    const a = readPublish5(await s.next());
    const b = readPublish5(await s.next());
    expect([a.qos, a.dup, b.qos, b.dup]).toEqual([1, false, 2, false]);
    s.send(disconnect5());
  });
});
