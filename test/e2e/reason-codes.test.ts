/**
 * Hooks and handlers speak in MQTT 5 Reason Codes; a 3.1.1 client gets them folded into its
 * CONNACK / SUBACK return codes (src/core/protocol/reason-codes.ts), and the CONNACKs sent are
 * counted by Reason Code. The plugin API stays backward compatible: `returnCode: 4 | 5` and
 * booleans work as before.
 */
import { type BrokerPlugin, ReasonCode } from '../../src';
import { TestBroker } from '../helpers/broker';
import { PINGREQ, PINGRESP, RawClient, connack, connect, publish, puback, suback, subscribe } from '../helpers/raw';

describe('Reason Codes from plugins, folded for 3.1.1 clients', () => {
  let tb: TestBroker | null = null;

  afterEach(async () => {
    await tb?.close();
    tb = null;
  });

  /** Each username picks the authentication plugin's answer. */
  const answers: Record<string, ReturnType<NonNullable<BrokerPlugin['authenticate']>>> = {
    'legacy-4': { ok: false, returnCode: 4 },
    'legacy-5': { ok: false, returnCode: 5 },
    unavailable: { ok: false, reasonCode: ReasonCode.ServerUnavailable },
    busy: Promise.resolve({ ok: false, reasonCode: ReasonCode.ServerBusy }),
    banned: { ok: false, reasonCode: ReasonCode.Banned },
    malformed: { ok: false, reasonCode: ReasonCode.MalformedPacket },
    // Not a CONNACK code: refused as Not authorized rather than sent.
    'not-connack': { ok: false, reasonCode: ReasonCode.KeepAliveTimeout },
    ok: { ok: true },
  };

  it.each([
    ['legacy-4', 4, ReasonCode.BadUserNameOrPassword],
    ['legacy-5', 5, ReasonCode.NotAuthorized],
    ['unavailable', 3, ReasonCode.ServerUnavailable],
    ['busy', 3, ReasonCode.ServerBusy],
    ['banned', 5, ReasonCode.Banned],
    ['not-connack', 5, ReasonCode.NotAuthorized],
  ] as const)('authenticate answering %s: CONNACK %s (counted as its Reason Code), then closed', async (username, v3, code) => {
    tb = await TestBroker.start({}, { plugins: [{ name: 'answers', authenticate: (r) => answers[r.username ?? 'ok'] }] });
    const c = await RawClient.tcp(tb.port);
    await c.connect({ clientId: 'c', username }, connack(0, v3));
    await c.expectClosed();
    expect(tb.broker.stats.reasonCodesSent.connack[code]).toBe(1);
  });

  it('[MQTT-3.1.4-1] a Reason Code for a fault in the CONNECT itself has no 3.1.1 CONNACK: closed silently', async () => {
    tb = await TestBroker.start({}, { plugins: [{ name: 'answers', authenticate: (r) => answers[r.username ?? 'ok'] }] });
    const c = await RawClient.tcp(tb.port);
    c.send(connect({ clientId: 'c', username: 'malformed' }));
    await c.expectClosedSilently();
    expect(Array.from(tb.broker.stats.reasonCodesSent.connack).every((n) => n === 0)).toBe(true);
  });

  it('an unsupported protocol level gets the 3.1.1 CONNACK 0x01 whatever level it asked for, counted as 0x84', async () => {
    tb = await TestBroker.start({ auth: { 'allow-anonymous': true } });
    // Unknown levels 6 and 7 (level 5 is MQTT 5 now: test/conformance/v5).
    for (const bytes of [connect({ clientId: 'v7', level: 7 }), connect({ clientId: 'v6', level: 6 })]) {
      const c = await RawClient.tcp(tb.port);
      c.send(bytes);
      await c.expect(connack(0, 1));
      await c.expectClosed();
    }
    expect(tb.broker.stats.reasonCodesSent.connack[ReasonCode.UnsupportedProtocolVersion]).toBe(2);
  });

  it('publish and subscribe authorization may answer a Reason Code: 0x97 refuses (PUBACK and drop, SUBACK 0x80); booleans still work', async () => {
    tb = await TestBroker.start(
      { auth: { 'allow-anonymous': true } },
      {
        plugins: [
          {
            name: 'quota',
            authorizePublish: (_c, topic) => (topic === 'full' ? ReasonCode.QuotaExceeded : topic === 'no' ? false : undefined),
            authorizeSubscribe: (_c, filter) =>
              filter === 'full' ? Promise.resolve(ReasonCode.QuotaExceeded) : filter === 'one' ? ReasonCode.GrantedQoS1 : filter === 'no' ? false : true,
          },
        ],
      },
    );
    const sub = await RawClient.tcp(tb.port);
    await sub.connect({ clientId: 'sub' });
    sub.send(subscribe(1, ['full', 2], ['one', 2], ['no', 1], ['#', 1]));
    await sub.expect(suback(1, 0x80, 1, 0x80, 1));
    const pub = await RawClient.tcp(tb.port);
    await pub.connect({ clientId: 'pub' });
    pub.send(publish({ topic: 'full', qos: 1, id: 1, payload: 'x' }));
    await pub.expect(puback(1));
    pub.send(publish({ topic: 'no', qos: 1, id: 2, payload: 'x' }));
    await pub.expect(puback(2));
    pub.send(publish({ topic: 'yes', qos: 0, payload: 'y' }));
    expect((await sub.nextPublish()).topic).toBe('yes');
    sub.send(PINGREQ);
    await sub.expect(PINGRESP); // nothing from the refused topics came before it
    expect(tb.broker.stats.droppedUnauthorized).toBe(2);
  });
});
