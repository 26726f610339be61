// QoS 0 fan-in without sockets: the fanin/fanin5 rows' traffic (8 publishers, chunks of 128 QoS 0
// PUBLISHes of 16 B, one subscriber on bench/#) fed to a Broker's listener through in-memory
// transports, so the figure is the broker's JavaScript per message without the kernel, the load
// generator or the socket batching that move the socket rows on a shared machine (CPU per message
// there varied 0.7-1.8 us for one build). Prints process CPU ns per message delivered, 7 rounds
// after a warm-up; compare the min (or the median of mins over alternating runs) of two builds:
//   node bench/fanin-inproc.cjs DIST 4|5 [ROUNDS_OF_8_CHUNKS=400]
// Uses the Broker's private listener accept() (bench only).
const path = require('path'); const { EventEmitter } = require('events');
const dist = path.resolve(process.argv[2]); const V = Number(process.argv[3] || 4); const ITER = Number(process.argv[4] || 400);
const mp = require('mqtt-packet');
const { Broker } = require(path.join(dist, 'index.js'));
const gen = (p) => mp.generate(p, { protocolVersion: V });
class FakeT extends EventEmitter {
  constructor() { super(); this.remoteAddress = '127.0.0.1'; this.remotePort = ++FakeT.n; this.writableLength = 0; this.destroyed = false; this.bytes = 0; this.count = 0; }
  write(d) { this.bytes += d.length; this.count++; this.last = d; return true; }
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
  sub.emit('data', gen({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'bench/#', qos: 0 }] })); await tick(); await tick();
  const pubs = []; for (let i = 0; i < 8; i++) pubs.push(await open('pub' + i));
  const payload = Buffer.alloc(16, 0x61);
  const chunks = pubs.map((_, i) => Buffer.concat(Array.from({ length: 128 }, () => gen({ cmd: 'publish', topic: 'bench/fanin/' + i, payload, qos: 0, retain: false }))));
  const round = async (n) => {
    const c0 = process.cpuUsage(); const before = sub.bytes;
    for (let k = 0; k < n; k++) { for (let i = 0; i < 8; i++) pubs[i].emit('data', Buffer.from(chunks[i])); await tick(); }
    const c = process.cpuUsage(c0); const got = (sub.bytes - before) / (chunks[0].length / 128);
    return ((c.user + c.system) * 1000) / got;
  };
  await round(ITER); // warm-up
  const res = []; for (let r = 0; r < 7; r++) res.push(await round(ITER));
  console.log(`v${V} ${process.argv[2]}: min ${Math.min(...res).toFixed(0)} ns/msg  all ${res.map((x) => x.toFixed(0)).join(' ')}`);
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
