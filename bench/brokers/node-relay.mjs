// The latency floor of a Node.js process on this machine: a minimal MQTT 3.1.1 relay, QoS 0 only,
// for bench/latency-floor.mjs (never a broker to use: no auth, no limits, exact-match topics).
// It answers CONNECT, SUBSCRIBE and PINGREQ, and copies each PUBLISH's bytes to the sockets
// subscribed to exactly its topic. `--turn` writes once per event-loop turn (setImmediate), as
// nestmq does; without it every PUBLISH is written from the 'data' callback that read it.
// Usage: node node-relay.mjs PORT [--turn]
import net from 'node:net';

const port = Number(process.argv[2]);
const perTurn = process.argv.slice(3).includes('--turn');
const subscribers = new Map(); // topic -> Set<socket>
const dirty = new Set();
let flushScheduled = false;
const flush = () => {
  flushScheduled = false;
  for (const s of dirty) {
    s.write(s.relayOut.length === 1 ? s.relayOut[0] : Buffer.concat(s.relayOut));
    s.relayOut = [];
  }
  dirty.clear();
};
const send = (s, buf) => {
  if (!perTurn) return void s.write(buf);
  s.relayOut.push(buf);
  dirty.add(s);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
};

const server = net.createServer({ noDelay: true }, (sock) => {
  sock.relayOut = [];
  let buf = Buffer.alloc(0);
  const topics = [];
  sock.on('data', (chunk) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    let at = 0;
    for (;;) {
      if (buf.length - at < 2) break;
      let len = 0;
      let mul = 1;
      let i = at + 1;
      for (; i < buf.length; i++) {
        len += (buf[i] & 0x7f) * mul;
        mul *= 128;
        if ((buf[i] & 0x80) === 0) break;
      }
      if (i >= buf.length) break;
      const body = i + 1;
      if (buf.length - body < len) break;
      const type = buf[at] & 0xf0;
      if (type === 0x30) {
        const tl = buf.readUInt16BE(body);
        const topic = buf.toString('utf8', body + 2, body + 2 + tl);
        const set = subscribers.get(topic);
        if (set !== undefined) {
          const frame = buf.subarray(at, body + len);
          for (const s of set) send(s, frame);
        }
      } else if (type === 0x10) {
        sock.write(Buffer.from([0x20, 0x02, 0x00, 0x00]));
      } else if (type === 0x80) {
        const id = buf.readUInt16BE(body);
        let p = body + 2;
        let n = 0;
        while (p < body + len) {
          const fl = buf.readUInt16BE(p);
          const topic = buf.toString('utf8', p + 2, p + 2 + fl);
          p += 3 + fl;
          n++;
          if (!subscribers.has(topic)) subscribers.set(topic, new Set());
          subscribers.get(topic).add(sock);
          topics.push(topic);
        }
        sock.write(Buffer.from([0x90, 2 + n, id >> 8, id & 0xff, ...new Array(n).fill(0)]));
      } else if (type === 0xc0) {
        sock.write(Buffer.from([0xd0, 0x00]));
      } else if (type === 0xe0) {
        sock.end();
      }
      at = body + len;
    }
    buf = at >= buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(at));
  });
  const gone = () => {
    for (const t of topics) subscribers.get(t)?.delete(sock);
    dirty.delete(sock);
  };
  sock.on('close', gone);
  sock.on('error', gone);
});
server.listen(port, '127.0.0.1', () => console.log(`ready node-relay${perTurn ? ' (per turn)' : ''} 127.0.0.1:${port} pid ${process.pid}`));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
