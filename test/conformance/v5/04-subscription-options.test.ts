/**
 * MQTT 5 conformance, Subscription Options (section 3.8.3.1): No Local, Retain As Published,
 * Retain Handling, and features announced unavailable. Raw bytes, decoded with mqtt-packet.
 */
import { encodePacketV5 } from '../../../src/core/protocol/encoder-v5';
import { PacketType, type Properties, type Subscription } from '../../../src/core/protocol/packets';
import { useBroker } from '../../helpers/conformance';
import type { RawClient } from '../../helpers/raw';
import { connectV5, decodeV5, lastDisconnect } from '../../helpers/v5';

type Pub = { cmd: string; topic: string; payload: Buffer; retain: boolean };

describe('v5 subscription options', () => {
  const h = useBroker();

  async function client(clientId: string): Promise<RawClient> {
    const c = await h().raw();
    c.send(connectV5({ clientId }));
    expect(decodeV5<{ reasonCode: number }>(await c.next()).reasonCode).toBe(0);
    return c;
  }
  async function sub(c: RawClient, id: number, s: Subscription, properties?: Properties): Promise<void> {
    c.send(encodePacketV5({ type: PacketType.SUBSCRIBE, packetId: id, subscriptions: [s], properties }));
    expect(decodeV5<{ cmd: string; granted: number[] }>(await c.next())).toMatchObject({ cmd: 'suback', granted: [s.qos] });
  }
  function pub(c: RawClient, topic: string, payload: string, retain = false): void {
    c.send(encodePacketV5({ type: PacketType.PUBLISH, topic, payload: Buffer.from(payload), qos: 0, retain, dup: false, packetId: 0 }));
  }

  it('v5 [MQTT-3.8.3-3] No Local: a client\'s own messages are not sent back to it; others still get them', async () => {
    const a = await client('a');
    await sub(a, 1, { topic: 'n/#', qos: 0, noLocal: true });
    const b = await client('b');
    await sub(b, 1, { topic: 'n/#', qos: 0 });
    pub(a, 'n/1', 'mine');
    expect(decodeV5<Pub>(await b.next()).payload.toString()).toBe('mine');
    await a.expectNothing();
    pub(b, 'n/2', 'theirs');
    expect(decodeV5<Pub>(await a.next()).payload.toString()).toBe('theirs');
  });

  it('v5 [MQTT-3.3.1-12] [MQTT-3.3.1-13] Retain As Published 1 keeps RETAIN on live deliveries; 0 clears it', async () => {
    const rap = await client('rap');
    await sub(rap, 1, { topic: 'r', qos: 0, retainAsPublished: true });
    const plain = await client('plain');
    await sub(plain, 1, { topic: 'r', qos: 0 });
    const p = await client('p');
    pub(p, 'r', 'live', true);
    expect(decodeV5<Pub>(await rap.next()).retain).toBe(true);
    expect(decodeV5<Pub>(await plain.next()).retain).toBe(false);
  });

  it('v5 [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11] Retain Handling 0 sends retained messages, 1 only for a new subscription, 2 never', async () => {
    const p = await client('p');
    pub(p, 'k', 'kept', true);
    await p.pingRoundTrip();
    const c = await client('c');
    await sub(c, 1, { topic: 'k', qos: 0, retainHandling: 2 });
    await c.expectNothing();
    await sub(c, 2, { topic: 'k2', qos: 0, retainHandling: 1 });
    pub(p, 'k2', 'kept2', true);
    expect(decodeV5<Pub>(await c.next()).payload.toString()).toBe('kept2');
    await sub(c, 3, { topic: 'k2', qos: 0, retainHandling: 1 });
    await c.expectNothing();
    await sub(c, 4, { topic: 'k', qos: 0, retainHandling: 0 });
    const m = decodeV5<Pub>(await c.next());
    expect([m.payload.toString(), m.retain]).toEqual(['kept', true]);
  });

  it('v5 [MQTT-3.8.3-4] No Local on a shared subscription is a Protocol Error: DISCONNECT 0x82', async () => {
    const c = await client('s');
    c.send(encodePacketV5({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topic: '$share/g/x', qos: 0, noLocal: true }] }));
    await c.waitClosed();
    expect(lastDisconnect(c)).toBe(0x82); // a Reason String may follow the code
  });
});
