/**
 * A message with a Message Expiry Interval is encoded once per remaining-seconds value, not once
 * per receiver: a fan-out within the same second shares one EncodedPublishV5 v5 [MQTT-3.3.2-6].
 */
import { Message } from '../../src/core/sessions/message';

describe('Message.encodingV5 with a Message Expiry Interval', () => {
  it('v5 [MQTT-3.3.2-6] shares one encoding while the remaining interval is the same, and re-encodes when it changes', () => {
    const msg = new Message('t', Buffer.from('x'), 1, false, 'pub');
    msg.setV5Properties({ messageExpiryInterval: 10, contentType: 'c' });
    const t0 = msg.expiresAt - 10_000;
    const first = msg.encodingV5(t0);
    expect(msg.encodingV5(t0 + 1)).toBe(first);
    expect(msg.encodingV5(t0 + 999)).toBe(first); // ceil: still 10 s left
    const later = msg.encodingV5(t0 + 1000);
    expect(later).not.toBe(first);
    // The bytes carry the interval left: property 0x02, four bytes.
    const bytes = (at: number): Buffer => msg.encodingV5(at).qos0(false);
    expect(bytes(t0).includes(Buffer.from([0x02, 0, 0, 0, 10]))).toBe(true);
    expect(bytes(t0 + 4500).includes(Buffer.from([0x02, 0, 0, 0, 6]))).toBe(true);
    expect(bytes(t0 + 4600)).toBe(bytes(t0 + 4500)); // the shared QoS 0 buffer of the same encoding
  });
});
