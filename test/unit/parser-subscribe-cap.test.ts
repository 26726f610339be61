/**
 * SUBSCRIBE filters beyond the parser's maxFiltersPerSubscribe: validated on their bytes, counted
 * in `overflow`, never decoded into objects (a 1 MiB SUBSCRIBE of 262,000 filters used to build
 * them all before the handler refused all but 256). Bytes are hand-written (STYLE 9).
 */
import { PacketParser } from '../../src/core/protocol/parser';
import { ProtocolError } from '../../src/core/protocol/errors';
import { PacketType, type SubscribePacket } from '../../src/core/protocol/packets';
import { frame, u16 } from '../helpers/raw';

/** One filter: length prefix, bytes, requested QoS. */
function filter(bytes: Buffer, qos: number): Buffer {
  return Buffer.concat([u16(bytes.length), bytes, Buffer.from([qos])]);
}

function subscribe(filters: Buffer[]): Buffer {
  return frame(0x82, Buffer.concat([u16(9), ...filters]));
}

function parse(bytes: Buffer, maxFiltersPerSubscribe: number): SubscribePacket {
  const parser = new PacketParser({ maxFiltersPerSubscribe });
  parser.push(bytes);
  const packet = parser.next();
  expect(packet?.type).toBe(PacketType.SUBSCRIBE);
  return packet as SubscribePacket;
}

function refusal(bytes: Buffer, maxFiltersPerSubscribe: number): ProtocolError {
  const parser = new PacketParser({ maxFiltersPerSubscribe });
  parser.push(bytes);
  try {
    parser.next();
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    return err as ProtocolError;
  }
  throw new Error('parsed without error');
}

describe('SUBSCRIBE beyond maxFiltersPerSubscribe', () => {
  const a = filter(Buffer.from('a/+'), 1);
  const hash = filter(Buffer.from('#'), 0);
  const utf8 = filter(Buffer.from('é/€/😀'), 2);

  it('decodes the first filters, counts the rest in overflow', () => {
    const p = parse(subscribe([a, hash, utf8, a, hash]), 2);
    expect(p.packetId).toBe(9);
    expect(p.subscriptions).toEqual([
      { topic: 'a/+', qos: 1 },
      { topic: '#', qos: 0 },
    ]);
    expect(p.overflow).toBe(3);
  });

  it('no overflow field at or under the cap, nor without a cap', () => {
    expect(parse(subscribe([a, hash]), 2).overflow).toBeUndefined();
    expect(new PacketParser().protocolLevel).toBe(4);
    const uncapped = new PacketParser();
    uncapped.push(subscribe([a, hash, utf8]));
    const p = uncapped.next() as SubscribePacket;
    expect(p.subscriptions.length).toBe(3);
    expect(p.overflow).toBeUndefined();
  });

  it('262,000 filters with a cap of 256: 256 objects, 261,744 counted', () => {
    const p = parse(subscribe(new Array(262_000).fill(hash)), 256);
    expect(p.subscriptions.length).toBe(256);
    expect(p.overflow).toBe(262_000 - 256);
  });

  // The packet is refused beyond the cap exactly as if every filter were decoded.
  it.each([
    ['ill-formed UTF-8 (lone continuation byte)', filter(Buffer.from([0x61, 0x80]), 0), 'MQTT-1.5.3-1'],
    ['overlong encoding (C0 AF)', filter(Buffer.from([0xc0, 0xaf]), 0), 'MQTT-1.5.3-1'],
    ['encoded surrogate U+D800', filter(Buffer.from([0xed, 0xa0, 0x80]), 0), 'MQTT-1.5.3-1'],
    ['sequence cut by the field end', filter(Buffer.from([0x61, 0xe2, 0x82]), 0), 'MQTT-1.5.3-1'],
    ['U+0000', filter(Buffer.from([0x61, 0x00]), 0), 'MQTT-1.5.3-2'],
    ['requested QoS 3', filter(Buffer.from('x'), 3), 'MQTT-3.8.3-4'],
    ['empty filter', filter(Buffer.alloc(0), 0), 'MQTT-4.7.3-1'],
    ['length past the packet end', Buffer.concat([u16(50), Buffer.from('ab')]), 'MQTT-3.8.3-1'],
    ['missing QoS byte', Buffer.concat([u16(1), Buffer.from('a')]), 'MQTT-3.8.3-4'],
  ])('%s beyond the cap is refused (%s)', (_name, bad, rule) => {
    const err = refusal(subscribe([a, hash, bad]), 1);
    expect(err.rule).toBe(rule);
    // The same rule as when decoded under the cap.
    expect(refusal(subscribe([a, hash, bad]), 10).rule).toBe(rule);
  });
});

describe('v5 SUBSCRIBE beyond maxFiltersPerSubscribe', () => {
  /** A v5 SUBSCRIBE: packet id 9, Property Length 0, then the filters (options byte in place of QoS). */
  function subscribeV5(filters: Buffer[]): Buffer {
    return frame(0x82, Buffer.concat([u16(9), Buffer.from([0x00]), ...filters]));
  }
  function parserV5(maxFiltersPerSubscribe: number): PacketParser {
    const parser = new PacketParser({ maxFiltersPerSubscribe });
    parser.protocolLevel = 5;
    return parser;
  }
  function parseV5(bytes: Buffer, max: number): SubscribePacket {
    const parser = parserV5(max);
    parser.push(bytes);
    return parser.next() as SubscribePacket;
  }
  function refusalV5(bytes: Buffer, max: number): ProtocolError {
    const parser = parserV5(max);
    parser.push(bytes);
    try {
      parser.next();
    } catch (err) {
      expect(err).toBeInstanceOf(ProtocolError);
      return err as ProtocolError;
    }
    throw new Error('parsed without error');
  }
  const a = filter(Buffer.from('a/+'), 0x2d); // QoS 1, No Local, Retain As Published, Retain Handling 2
  const hash = filter(Buffer.from('#'), 0);

  it('decodes the first filters with their options, counts the rest in overflow', () => {
    const p = parseV5(subscribeV5([a, hash, a, hash]), 1);
    expect(p.subscriptions).toEqual([{ topic: 'a/+', qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 2 }]);
    expect(p.overflow).toBe(3);
    expect(parseV5(subscribeV5([a, hash]), 2).overflow).toBeUndefined();
  });

  it('262,000 filters with a cap of 256: 256 objects, 261,744 counted', () => {
    const p = parseV5(subscribeV5(new Array(262_000).fill(hash)), 256);
    expect(p.subscriptions.length).toBe(256);
    expect(p.overflow).toBe(262_000 - 256);
  });

  it.each([
    ['ill-formed UTF-8 (lone continuation byte)', filter(Buffer.from([0x61, 0x80]), 0), 0x81],
    ['U+0000', filter(Buffer.from([0x61, 0x00]), 0), 0x81],
    ['reserved option bits', filter(Buffer.from('x'), 0x40), 0x81],
    ['Maximum QoS 3', filter(Buffer.from('x'), 3), 0x82],
    ['Retain Handling 3', filter(Buffer.from('x'), 0x30), 0x82],
    ['empty filter', filter(Buffer.alloc(0), 0), 0x8f],
    ['length past the packet end', Buffer.concat([u16(50), Buffer.from('ab')]), 0x81],
    ['missing options byte', Buffer.concat([u16(1), Buffer.from('a')]), 0x81],
  ])('%s beyond the cap is refused as under it (Reason Code 0x%s)', (_name, bad, code) => {
    const beyond = refusalV5(subscribeV5([a, hash, bad]), 1);
    const under = refusalV5(subscribeV5([a, hash, bad]), 10);
    expect(beyond.reasonCode).toBe(code);
    expect(under.reasonCode).toBe(code);
    expect(beyond.rule).toBe(under.rule);
  });
});
