/**
 * Conformance, section 4.7 Topic Names and Topic Filters, end to end through a real broker: the
 * filter syntax, the `$` rule, lengths, exact matching, and a table of filters x topics checked
 * against a reference matcher written here from the spec text.
 */
import { type Harness, useBroker } from '../helpers/conformance';
import {
  PINGREQ,
  PINGRESP,
  type RawClient,
  connect,
  hex,
  publish,
  subscribe,
  suback,
  unsubscribe,
  unsuback,
} from '../helpers/raw';

/** Reference matcher, section 4.7 (independent of src/core/topics). */
function matches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false; // [MQTT-4.7.2-1]
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true; // also matches the parent level: 'a/#' matches 'a'
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * Subscribes one raw client per filter (plus a marker filter), publishes every topic, then the
 * marker, and returns, per filter, the topics received before the marker.
 */
async function route(h: Harness, filters: string[], topics: string[]): Promise<Map<string, string[]>> {
  const clients: RawClient[] = [];
  for (let i = 0; i < filters.length; i++) {
    const c = await h.connected({ clientId: `f${i}` });
    c.send(subscribe(1, [filters[i], 0], ['zz-marker', 0]));
    await c.expect(suback(1, 0, 0));
    clients.push(c);
  }
  const pub = await h.connected({ clientId: 'pub' });
  pub.send(...topics.map((t) => publish({ topic: t, payload: t })), publish({ topic: 'zz-marker', payload: '' }));
  const out = new Map<string, string[]>();
  for (let i = 0; i < filters.length; i++) {
    const got: string[] = [];
    for (;;) {
      const m = await clients[i].nextPublish().catch((err: Error) => {
        throw new Error(`filter ${JSON.stringify(filters[i])}: ${err.message} (got ${JSON.stringify(got)})`);
      });
      if (m.topic === 'zz-marker') break;
      got.push(m.topic);
    }
    out.set(filters[i], got);
  }
  return out;
}

describe('4.7 topic names and filters', () => {
  const h = useBroker();

  it('[MQTT-4.7.1-1] wildcards are legal only in filters: PUBLISH to a/+ or a/#, and a Will Topic x/+, are closed', async () => {
    for (const topic of ['a/+', 'a/#']) {
      const c = await h().connected({ clientId: 'c' });
      c.send(publish({ topic, payload: 'x' }));
      await c.expectClosed();
    }
    const w = await h().raw();
    w.send(connect({ clientId: 'w', will: { topic: 'x/+', payload: 'm' } }));
    await w.expectClosedSilently();
  });

  it('[MQTT-4.7.1-2] "#" must be the whole filter or the last level after "/": a/#/b, a#, #/, ## get 0x80; a/# matches a itself (live and retained)', async () => {
    const c = await h().connected({ clientId: 'c' });
    c.send(subscribe(1, ['a/#/b', 0], ['a#', 0], ['#/', 0], ['##', 0], ['a/#', 0]));
    await c.expect(suback(1, 0x80, 0x80, 0x80, 0x80, 0));
    const pub = await h().connected({ clientId: 'pub' });
    pub.send(publish({ topic: 'a', payload: 'parent', retain: true }));
    expect((await c.nextPublish()).topic).toBe('a');
    const late = await h().connected({ clientId: 'late' });
    await late.subscribe(1, ['a/#', 0]);
    const r = await late.nextPublish();
    expect([r.topic, r.retain]).toEqual(['a', true]);
  });

  it('[MQTT-4.7.1-3] "+" fills a whole level: a+/b, +a, a/b+ get 0x80; a/+/b matches a//b; + and # combine (+/+/#)', async () => {
    const c = await h().connected({ clientId: 'c' });
    c.send(subscribe(1, ['a+/b', 0], ['+a', 0], ['a/b+', 0], ['a/+/b', 0], ['+/+/#', 0]));
    await c.expect(suback(1, 0x80, 0x80, 0x80, 0, 0));
    const pub = await h().connected({ clientId: 'pub' });
    pub.send(publish({ topic: 'a//b', payload: '1' }), publish({ topic: 'x/y', payload: '2' }));
    const got = [await c.nextPublish(), await c.nextPublish()].map((m) => m.topic);
    expect(got).toEqual(['a//b', 'x/y']);
    await h().expectNothing(c);
  });

  it('[MQTT-4.7.2-1] filters starting with + or # never match topics starting with $; $x/# and $x/+ do (live and retained)', async () => {
    const wild = await h().connected({ clientId: 'wild' });
    await wild.subscribe(1, ['#', 0], ['+/x', 0], ['+', 0], ['+/#', 0]);
    const dollar = await h().connected({ clientId: 'dollar' });
    await dollar.subscribe(1, ['$x/#', 0], ['$x', 0], ['$y/+', 0]);
    const pub = await h().connected({ clientId: 'pub' });
    pub.send(
      publish({ topic: '$x/x', payload: '1' }),
      publish({ topic: '$x', payload: '2' }),
      publish({ topic: '$y/x', payload: '3', retain: true }),
    );
    const got = [await dollar.nextPublish(), await dollar.nextPublish(), await dollar.nextPublish()].map((m) => m.topic);
    expect(got).toEqual(['$x/x', '$x', '$y/x']);
    await h().expectNothing(wild);
    // Retained lookups apply the same rule.
    const late = await h().connected({ clientId: 'late' });
    await late.subscribe(1, ['#', 0], ['+/x', 0]);
    await h().expectNothing(late);
    await late.subscribe(2, ['$y/#', 0]);
    expect((await late.nextPublish()).topic).toBe('$y/x');
  });

  it('[MQTT-4.7.3-1] empty Topic Names and filters are refused by closing: PUBLISH "", SUBSCRIBE "", UNSUBSCRIBE "", Will Topic "" (documented choice: close)', async () => {
    const sub = await h().connected({ clientId: 'sub' });
    await sub.subscribe(1, ['#', 0]);
    for (const bad of [publish({ topic: '', payload: 'x' }), subscribe(1, ['', 0]), unsubscribe(1, '')]) {
      const c = await h().connected({ clientId: 'c' });
      c.send(bad);
      await c.expectClosed();
    }
    const w = await h().raw();
    w.send(connect({ clientId: 'w', will: { topic: '', payload: 'm' } }));
    await w.expectClosedSilently();
    await h().expectNothing(sub);
  });

  it('[MQTT-4.7.3-2] U+0000 in a PUBLISH topic, a SUBSCRIBE filter or an UNSUBSCRIBE filter: closed', async () => {
    for (const bad of [publish({ topic: hex('61 00 62') }), subscribe(1, [hex('61 00'), 0]), unsubscribe(1, hex('00'))]) {
      const c = await h().connected({ clientId: 'c' });
      c.send(bad);
      await c.expectClosed();
    }
  });

  it('[MQTT-4.7.3-3] a 65535-byte Topic Name and a 65535-byte filter are accepted and match', async () => {
    const long = 'a'.repeat(65535);
    const c = await h().connected({ clientId: 'c' });
    await c.subscribe(1, [long, 1]);
    const pub = await h().connected({ clientId: 'pub' });
    await pub.publish({ topic: long, payload: 'long', qos: 1, id: 1 });
    const m = await c.nextPublish();
    expect([m.topicBytes.length, m.payload.toString()]).toEqual([65535, 'long']);
  });

  it('[MQTT-4.7.3-4] matching is exact: NFC vs NFD "Café", "A" vs "a", "a//b" vs "a/b", "a " vs "a", "/a" vs "a" are all distinct', async () => {
    const pairs: [string, string][] = [
      ['Caf\u00e9', 'Cafe\u0301'],
      ['A', 'a'],
      ['a//b', 'a/b'],
      ['a ', 'a'],
      ['/a', 'a'],
    ];
    const filters = [...new Set(pairs.flat())];
    const topics = filters;
    const got = await route(h(), filters, topics);
    for (const f of filters) expect([f, got.get(f)]).toEqual([f, [f]]);
  });

  it('[§4.7 examples] sport/# matches sport; sport/+ matches sport/ but not sport; /finance matches +/+ and /+ but not +; # matches every non-$ topic', async () => {
    const filters = ['sport/#', 'sport/tennis/player1/#', 'sport/+', '+/+', '/+', '+', '#', 'sport/tennis/+'];
    const topics = ['sport', 'sport/', 'sport/tennis/player1', 'sport/tennis/player1/ranking', 'sport/tennis/player1/score/wimbledon', '/finance', 'finance', 'sport/tennis/player2', '$SYS/x'];
    const got = await route(h(), filters, topics);
    expect(got.get('sport/#')).toEqual(['sport', 'sport/', 'sport/tennis/player1', 'sport/tennis/player1/ranking', 'sport/tennis/player1/score/wimbledon', 'sport/tennis/player2']);
    expect(got.get('sport/tennis/player1/#')).toEqual(['sport/tennis/player1', 'sport/tennis/player1/ranking', 'sport/tennis/player1/score/wimbledon']);
    expect(got.get('sport/+')).toEqual(['sport/']);
    expect(got.get('+/+')).toEqual(['sport/', '/finance']);
    expect(got.get('/+')).toEqual(['/finance']);
    expect(got.get('+')).toEqual(['sport', 'finance']);
    expect(got.get('#')).toEqual(topics.filter((t) => !t.startsWith('$')));
    expect(got.get('sport/tennis/+')).toEqual(['sport/tennis/player1', 'sport/tennis/player2']);
  });

  it('[MQTT-3.3.2-3] [§7.1.1 items 1–2] every delivered topic matches the receiving filter and every matching topic is delivered: 30 filters x 40 topics against a reference matcher', async () => {
    const filters = [
      '#', '+', '+/+', '+/#', 'a', 'a/#', 'a/+', 'a/+/c', 'a/b/c', '+/b/#', '/#', '/+', '+/', 'a//c', 'a/+/+',
      '$sys/#', '$sys/+', '+/+/+', 'a/b/#', '+/+/+/+', 'b/+/#', '+/+/c', 'x', 'x/y/z/#', '$sys',
      'A/#', 'a/b', '+/b', 'é/+', 'a/b/c/d/#',
    ];
    const topics = [
      'a', 'a/b', 'a/b/c', 'a/b/c/d', 'a/b/c/d/e', 'a//c', 'a/', '/a', '/', '//', 'b', 'b/b', 'b/b/b', 'x', 'x/y',
      'x/y/z', 'x/y/z/w', '$sys', '$sys/a', '$sys/a/b', '$x', 'A', 'A/b', 'é', 'é/a', 'a/c/c', 'c/b/c', 'c/b',
      'q/b/r/s', '/b', 'a/bc', 'ab', 'a/b/', 'a/b//', 'a/x/c', 'a b', 'sport', 'b/a/c', 'a/b/c/d/e/f', 'z',
    ];
    expect(new Set(filters).size).toBe(30);
    const got = await route(h(), filters, topics);
    for (const f of filters) {
      const expected = topics.filter((t) => matches(f, t));
      expect([f, got.get(f)]).toEqual([f, expected]);
    }
  });

  it('[MQTT-4.7.3-1] an empty level is not an empty topic: "/" and "a//" are valid names and deliver', async () => {
    const c = await h().connected({ clientId: 'c' });
    await c.subscribe(1, ['#', 0]);
    const pub = await h().connected({ clientId: 'pub' });
    pub.send(publish({ topic: '/', payload: '1' }), publish({ topic: 'a//', payload: '2' }));
    expect([(await c.nextPublish()).topic, (await c.nextPublish()).topic]).toEqual(['/', 'a//']);
    pub.send(PINGREQ);
    await pub.expect(PINGRESP);
    c.send(unsubscribe(2, '#'));
    await c.expect(unsuback(2));
  });
});

describe('4.7.3 topic length limit', () => {
  const h = useBroker({ limits: { 'max-topic-length': 8 } });

  it('[MQTT-4.7.3-3] the configured max-topic-length (8) counts UTF-8 bytes: "éééé" (8 bytes) passes, "ééééé" (5 characters, 10 bytes) is refused (SUBACK 0x80, PUBLISH closed)', async () => {
    const c = await h().connected({ clientId: 'c' });
    c.send(subscribe(1, ['éééé', 0], ['ééééé', 0], ['abcdefghi', 0]));
    await c.expect(suback(1, 0, 0x80, 0x80));
    const pub = await h().connected({ clientId: 'pub' });
    pub.send(publish({ topic: 'éééé', payload: 'ok' }));
    expect((await c.nextPublish()).topic).toBe('éééé');
    pub.send(publish({ topic: 'ééééé', payload: 'too long' }));
    await pub.expectClosed();
    await h().expectNothing(c);
  });
});
