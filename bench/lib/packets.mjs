// Packet builders. Everything is encoded once (mqtt-packet's generate, or by hand for the
// tiny fixed packets) and reused/patched on the hot path. `v5: true` encodes MQTT 5.0 packets
// (protocol level 5; PUBLISH and SUBSCRIBE with an empty property block, one 0x00 byte).
import mqttPacket from 'mqtt-packet';

const V5 = { protocolVersion: 5 };
const gen = (p, v5) => (v5 ? mqttPacket.generate(p, V5) : mqttPacket.generate(p));

/** CONNECT; with v5, `topicAliasMaximum` > 0 sends that Topic Alias Maximum property. */
export function connect(clientId, { keepalive = 0, clean = true, v5 = false, topicAliasMaximum = 0 } = {}) {
  const pkt = { cmd: 'connect', protocolId: 'MQTT', protocolVersion: v5 ? 5 : 4, clean, clientId, keepalive };
  if (v5 && topicAliasMaximum > 0) pkt.properties = { topicAliasMaximum };
  return gen(pkt, v5);
}

export function subscribe(messageId, subs, v5 = false) {
  return gen({ cmd: 'subscribe', messageId, subscriptions: subs.map(({ topic, qos = 0 }) => ({ topic, qos })) }, v5);
}

export function publish(topic, payload, { qos = 0, messageId = 1, retain = false, v5 = false } = {}) {
  return gen({ cmd: 'publish', topic, payload, qos, messageId: qos > 0 ? messageId : undefined, retain, dup: false }, v5);
}

/**
 * Where in an encoded PUBLISH the packet id sits (-1 for QoS 0) and where the payload starts;
 * `v5`: the packet has a property block after the packet id (its length read here).
 */
export function publishLayout(pkt, v5 = false) {
  let i = 1;
  while (pkt[i] & 128) i++;
  i++;
  const topicLen = (pkt[i] << 8) | pkt[i + 1];
  const afterTopic = i + 2 + topicLen;
  const qos = (pkt[0] >> 1) & 3;
  const afterId = qos > 0 ? afterTopic + 2 : afterTopic;
  return { idOffset: qos > 0 ? afterTopic : -1, payloadOffset: v5 ? skipProperties(pkt, afterId) : afterId };
}

/** The offset after a v5 property block (Variable Byte Integer length + properties) at `pos`. */
export function skipProperties(buf, pos) {
  let len = 0;
  let shift = 0;
  let b;
  do {
    b = buf[pos++];
    len |= (b & 127) << shift;
    shift += 7;
  } while (b & 128 && shift < 28);
  return pos + len;
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
