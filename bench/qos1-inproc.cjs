// QoS 1 end to end without sockets: the qos1/qos1v5 rows' traffic (8 publishers, QoS 1 PUBLISHes
// of 8 B on bench/qos1/<n>, one subscriber on bench/# at QoS 1 that PUBACKs every delivery) fed
// to a Broker's listener through in-memory transports (as bench/fanin-inproc.cjs for QoS 0), so
// the figure is the broker's JavaScript per message. Each step: every publisher sends a chunk of
// 12 PUBLISHes (8 x 12 = 96 in flight to the subscriber, within max-inflight-messages 100), then
// the subscriber acknowledges everything it received in one chunk. v5 clients send an empty
// property block and 2-byte PUBACKs (as bench/scenarios/qos1.mjs). Prints process CPU ns per
// message delivered, 7 rounds after a warm-up; compare the min (or the median of mins over
// alternating runs) of two builds:
//   node bench/qos1-inproc.cjs DIST 4|5 [STEPS_PER_ROUND=1500]
// Uses the Broker's private listener accept() (bench only).
const path = require('path'); const { EventEmitter } = require('events');
const dist = path.resolve(process.argv[2]); const V = Number(process.argv[3] || 4); const ITER = Number(process.argv[4] || 1500);
const mp = require('mqtt-packet');
const { Broker } = require(path.join(dist, 'index.js'));
const gen = (p) => mp.generate(p, { protocolVersion: V });
const PER_CHUNK = 12;
class FakeT extends EventEmitter {
  constructor() { super(); this.remoteAddress = '127.0.0.1'; this.remotePort = ++FakeT.n; this.writableLength = 0; this.destroyed = false; this.bytes = 0; this.count = 0; this.onWrite = null; }
  write(d) { this.bytes += d.length; this.count++; if (this.onWrite !== null) this.onWrite(d); return true; }
  pause() { return this; } resume() { return this; } setNoDelay() { return this; }
  destroySoon() { this.destroyed = true; } destroy() { this.destroyed = true; return this; }
}
FakeT.n = 0;
const tick = () => new Promise((r) => setImmediate(r));
(async () => {
  const b = new Broker({ listeners: { default: { type: 'tcp', bind: '127.0.0.1:0' } } });
  await b.start();
  const lis = b.mqttListeners[0];
  const open = async (id) => { const t = new FakeT(); lis.accept(t); t.emit('data', gen({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: V, clientId: id, clean: true, keepalive: 0 })); await tick(); await tick(); return t; };
  const sub = await open('sub');
  sub.emit('data', gen({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'bench/#', qos: 1 }] })); await tick(); await tick();
  // The subscriber's PUBACKs: one 4-byte frame (3.1.1) or 2-byte-body frame (v5: code 0 left out) per delivery.
  const acks = Buffer.allocUnsafe(64 * 1024); let ackLen = 0; let delivered = 0;
  sub.onWrite = (d) => {
    let i = 0;
    while (i < d.length) {
      const h = d[i]; let len = 0; let mul = 1; let j = i + 1;
      for (;;) { const byte = d[j++]; len += (byte & 127) * mul; mul *= 128; if ((byte & 128) === 0) break; }
      if ((h & 0xf0) === 0x30) {
        const tl = (d[j] << 8) | d[j + 1];
        const id = (d[j + 2 + tl] << 8) | d[j + 3 + tl];
        acks[ackLen++] = 0x40; acks[ackLen++] = 2; acks[ackLen++] = id >> 8; acks[ackLen++] = id & 255;
        delivered++;
      }
      i = j + len;
    }
  };
  const pubs = []; for (let i = 0; i < 8; i++) pubs.push(await open('pub' + i));
  const payload = Buffer.alloc(8, 0x61);
  // Packet ids cycle per publisher: every chunk is acknowledged before the next one is sent.
  const chunks = pubs.map((_, i) => Buffer.concat(Array.from({ length: PER_CHUNK }, (_, k) => gen({ cmd: 'publish', topic: 'bench/qos1/' + i, payload, qos: 1, messageId: k + 1, retain: false, ...(V === 5 ? { properties: {} } : {}) }))));
  const round = async (n) => {
    const c0 = process.cpuUsage(); const before = delivered;
    for (let k = 0; k < n; k++) {
      for (let i = 0; i < 8; i++) pubs[i].emit('data', Buffer.from(chunks[i]));
      await tick();
      if (ackLen > 0) { const out = Buffer.from(acks.subarray(0, ackLen)); ackLen = 0; sub.emit('data', out); }
      await tick();
    }
    const c = process.cpuUsage(c0);
    return ((c.user + c.system) * 1000) / (delivered - before);
  };
  await round(ITER); // warm-up
  const res = []; for (let r = 0; r < 7; r++) res.push(await round(ITER));
  const expected = 8 * PER_CHUNK * ITER * 8;
  console.log(`v${V} ${process.argv[2]}: min ${Math.min(...res).toFixed(0)} ns/msg  all ${res.map((x) => x.toFixed(0)).join(' ')}${delivered !== expected ? `  (delivered ${delivered} of ${expected})` : ''}`);
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
