// Packet builders. Everything is encoded once (mqtt-packet's generate, or by hand for the
// tiny fixed packets) and reused/patched on the hot path.
import mqttPacket from 'mqtt-packet';

const gen = (p) => mqttPacket.generate(p);

export function connect(clientId, { keepalive = 0, clean = true } = {}) {
  return gen({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean, clientId, keepalive });
}

export function subscribe(messageId, subs) {
  return gen({ cmd: 'subscribe', messageId, subscriptions: subs.map(({ topic, qos = 0 }) => ({ topic, qos })) });
}

export function publish(topic, payload, { qos = 0, messageId = 1, retain = false } = {}) {
  return gen({ cmd: 'publish', topic, payload, qos, messageId: qos > 0 ? messageId : undefined, retain, dup: false });
}

/** Where in an encoded QoS>0 PUBLISH the packet id sits, and where the payload starts. */
export function publishLayout(pkt) {
  let i = 1;
  while (pkt[i] & 128) i++;
  i++;
  const topicLen = (pkt[i] << 8) | pkt[i + 1];
  const afterTopic = i + 2 + topicLen;
  const qos = (pkt[0] >> 1) & 3;
  return { idOffset: qos > 0 ? afterTopic : -1, payloadOffset: qos > 0 ? afterTopic + 2 : afterTopic };
}

/** Concatenate `n` copies of a packet into one buffer (one write() sends n messages). */
export function repeat(pkt, n) {
  const out = Buffer.allocUnsafe(pkt.length * n);
  for (let k = 0; k < n; k++) pkt.copy(out, k * pkt.length);
  return out;
}

export const PINGREQ = Buffer.from([0xc0, 0x00]);
export const DISCONNECT = Buffer.from([0xe0, 0x00]);
export const PUBACK_LEN = 4;
export function writePuback(out, off, id) {
  out[off] = 0x40;
  out[off + 1] = 0x02;
  out[off + 2] = id >> 8;
  out[off + 3] = id & 255;
}
