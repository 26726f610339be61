// Raw-socket MQTT clients for the load generator: net sockets, pre-encoded packets, the
// FrameSplitter for input. All sockets go to 127.0.0.1 and are tracked so that the worker can
// destroy them all and notice a connection the broker closed on us. With `ws: true` a client
// speaks MQTT over WebSocket instead (the `ws` package: binary frames, path /mqtt,
// sub-protocol `mqtt`), with the same packets, splitter and handshake; `c.sock` is then the
// WebSocket's underlying net socket and `c.ws` the WebSocket (send batches with pumpWs). With
// `v5: true` a client speaks MQTT 5.0 (level 5 CONNECT, with a Topic Alias Maximum if
// `topicAliasMaximum` > 0; v5 SUBSCRIBE); its frames go to onFrame as they are (a v5 PUBLISH
// has a property block: parsePublishV5 in frames.mjs reads it).
import net from 'node:net';
import WebSocket from 'ws';
import { FrameSplitter, CONNACK, SUBACK } from './frames.mjs';
import * as P from './packets.mjs';

const HOST = '127.0.0.1';
// One read buffer for every socket of the process (net's `onread` option): libuv reads into
// it and our callback consumes it synchronously, so no per-read allocation and no stream
// machinery ('data' events) on the receive path.
const READ_BUF = Buffer.allocUnsafe(256 * 1024);
const live = new Set();
let onUnexpected = null;

/** Called with an Error when the broker closes (or errors) a connection we did not close. */
export function setUnexpectedCloseHandler(fn) {
  onUnexpected = fn;
}

export function liveCount() {
  return live.size;
}

export function destroyAll() {
  for (const c of live) {
    c.closing = true;
    c.sock.destroy();
  }
  live.clear();
}

const noop = () => {};

/**
 * Connect, send CONNECT (and SUBSCRIBE if `subscribe` given, in the same write), resolve once
 * CONNACK (and SUBACK) arrived. Frames after that go to `onFrame(h, buf, start, end)`; the
 * functions in `client.afterRead` run after the frames of each read were handled (of each
 * received WebSocket message with `ws: true`).
 */
export function openClient(port, clientId, opts = {}) {
  const { subscribe = null, keepalive = 0, clean = true, onFrame = noop, timeoutMs = 15000, ws = false, v5 = false, topicAliasMaximum = 0 } = opts;
  return new Promise((resolve, reject) => {
    const c = { sock: null, ws: null, clientId, closing: false, ready: false, splitter: null, afterRead: [] };
    const onRead = (nread, buf) => {
      try {
        c.splitter.push(buf.subarray(0, nread));
      } catch (err) {
        fail(err);
        if (onUnexpected) onUnexpected(err);
        return false;
      }
      const ar = c.afterRead;
      for (let i = 0; i < ar.length; i++) ar[i]();
      return true;
    };
    let phase = 0;
    let settled = false;
    const timer = setTimeout(
      () => fail(new Error(`${clientId}: no ${phase === 0 ? 'CONNACK' : 'SUBACK'} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    function fail(err) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      c.closing = true;
      live.delete(c);
      if (c.sock) c.sock.destroy();
      reject(err);
    }
    const handshake = (h, buf, s, e) => {
      const type = h & 0xf0;
      if (phase === 0) {
        if (type !== CONNACK) return fail(new Error(`${clientId}: expected CONNACK, got type ${type >> 4}`));
        // 3.1.1 return code and v5 reason code are both the second byte; 0 is success in both.
        if (buf[s + 1] !== 0) return fail(new Error(`${clientId}: CONNACK ${v5 ? 'reason' : 'return'} code ${buf[s + 1]}`));
        phase = subscribe ? 1 : 2;
      } else if (phase === 1) {
        if (type !== SUBACK) return onFrame(h, buf, s, e); // e.g. a retained message racing the SUBACK
        // v5: the reason codes follow a property block, and every code from 0x80 up is a refusal.
        for (let i = v5 ? P.skipProperties(buf, s + 2) : s + 2; i < e; i++) {
          if (v5 ? buf[i] >= 0x80 : buf[i] === 0x80) return fail(new Error(`${clientId}: SUBSCRIBE refused (0x${buf[i].toString(16)})`));
        }
        phase = 2;
      }
      if (phase === 2 && !settled) {
        settled = true;
        clearTimeout(timer);
        c.ready = true;
        c.splitter.onFrame = onFrame;
        resolve(c);
      }
    };
    c.splitter = new FrameSplitter(handshake);
    const hello = () => {
      const conn = P.connect(clientId, { keepalive, clean, v5, topicAliasMaximum });
      return subscribe ? Buffer.concat([conn, P.subscribe(1, subscribe, v5)]) : conn;
    };
    const onError = (err) => {
      if (!settled) fail(new Error(`${clientId}: ${err.message}`));
    };
    const onClose = () => {
      live.delete(c);
      if (!settled) return fail(new Error(`${clientId}: connection closed during handshake`));
      if (!c.closing && onUnexpected) onUnexpected(new Error(`broker closed connection ${clientId}`));
    };
    if (ws) {
      // The WebSocket's own net socket, created here so that close()/destroyAll() can destroy it
      // like a plain one (the WebSocket then closes too).
      const sock = new WebSocket(`ws://${HOST}:${port}/mqtt`, 'mqtt', {
        ...WS_CLIENT_OPTIONS,
        createConnection: () => (c.sock = net.connect({ port, host: HOST, noDelay: true })),
      });
      c.ws = sock;
      sock.on('message', (data, isBinary) => {
        if (!isBinary) {
          const err = new Error(`${clientId}: text frame from the broker`);
          fail(err);
          if (onUnexpected) onUnexpected(err);
          return;
        }
        try {
          c.splitter.push(data);
        } catch (err) {
          fail(err);
          if (onUnexpected) onUnexpected(err);
          return;
        }
        const ar = c.afterRead;
        for (let i = 0; i < ar.length; i++) ar[i]();
      });
      sock.on('error', onError);
      sock.on('close', onClose);
      sock.on('open', () => {
        live.add(c);
        sock.send(hello(), WS_SEND);
      });
      return;
    }
    const sock = net.connect({ port, host: HOST, noDelay: true, onread: { buffer: READ_BUF, callback: onRead } });
    c.sock = sock;
    sock.on('error', onError);
    sock.on('close', onClose);
    sock.on('connect', () => {
      live.add(c);
      sock.write(hello());
    });
  });
}

// WebSocket clients: no compression; an all-zero masking key (RFC 6455 requires client frames
// to be masked; with a zero key ws skips the copy-and-XOR of every outgoing batch, while the
// broker still unmasks every frame as usual); no UTF-8 checks (binary frames only).
const WS_CLIENT_OPTIONS = {
  perMessageDeflate: false,
  skipUTF8Validation: true,
  generateMask: (mask) => mask.fill(0),
};
const WS_SEND = { binary: true, compress: false };

/** Open `n` clients with at most `concurrency` handshakes in progress; optsFor(i) -> {clientId, ...}. */
export async function openMany(port, n, optsFor, { concurrency = 100, deadline = Infinity } = {}) {
  const out = new Array(n);
  let next = 0;
  async function lane() {
    while (next < n) {
      if (Date.now() > deadline) throw new Error(`connecting ${n} clients: deadline passed after ${next}`);
      const i = next++;
      const o = optsFor(i);
      out[i] = await openClient(port, o.clientId, o);
    }
  }
  const lanes = [];
  for (let k = 0; k < Math.min(concurrency, n); k++) lanes.push(lane());
  await Promise.all(lanes);
  return out;
}

/** Resolve when the socket drains (write() returned false); reject if it closes first. */
export function drain(sock) {
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      sock.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      sock.off('drain', onDrain);
      reject(new Error('socket closed while waiting for drain'));
    };
    sock.once('drain', onDrain);
    sock.once('close', onClose);
  });
}

export function close(c) {
  c.closing = true;
  live.delete(c);
  c.sock.destroy();
}

/** Wait until pred() is true (polled every `every` ms) or the deadline passes; returns pred(). */
export async function waitUntil(pred, deadline, every = 5) {
  while (!pred() && Date.now() < deadline) await new Promise((r) => setTimeout(r, every));
  return pred();
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const yieldNow = () => new Promise((r) => setImmediate(r));

/**
 * Send `total` messages by writing the pre-encoded batch buffers in turn (each holds
 * `perBatch` packets of `pktLen` bytes; the last write is trimmed). Honors write()
 * backpressure (waits for 'drain'), yields to the event loop every few writes so that the
 * receiving side of the generator keeps reading, stops at `deadline`. Returns messages sent.
 */
export async function pump(sock, batches, perBatch, pktLen, total, deadline) {
  let sent = 0;
  let k = 0;
  let sinceYield = 0;
  while (sent < total) {
    if (Date.now() > deadline) break;
    const b = batches[k];
    k = k + 1 === batches.length ? 0 : k + 1;
    const n = Math.min(perBatch, total - sent);
    sent += n;
    const ok = sock.write(n === perBatch ? b : b.subarray(0, n * pktLen));
    if (!ok) {
      await drain(sock);
      sinceYield = 0;
    } else if (++sinceYield >= 16) {
      sinceYield = 0;
      await yieldNow();
    }
  }
  return sent;
}

/**
 * pump() for a `ws: true` client: each batch goes out as one binary WebSocket frame. ws writes
 * a frame straight to its net socket (no compression, so nothing queues inside ws: the socket's
 * buffer is all of ws.bufferedAmount), so backpressure is the socket's: wait for its 'drain'
 * when its buffer passed the high-water mark, as write() returning false does in pump().
 */
export async function pumpWs(c, batches, perBatch, pktLen, total, deadline) {
  const { ws, sock } = c;
  let sent = 0;
  let k = 0;
  let sinceYield = 0;
  while (sent < total) {
    if (Date.now() > deadline) break;
    if (ws.readyState !== WebSocket.OPEN) throw new Error(`${c.clientId}: WebSocket closed while sending`);
    const b = batches[k];
    k = k + 1 === batches.length ? 0 : k + 1;
    const n = Math.min(perBatch, total - sent);
    sent += n;
    ws.send(n === perBatch ? b : b.subarray(0, n * pktLen), WS_SEND);
    if (sock.writableNeedDrain) {
      await drain(sock);
      sinceYield = 0;
    } else if (++sinceYield >= 16) {
      sinceYield = 0;
      await yieldNow();
    }
  }
  return sent;
}

/**
 * Track first/last arrival time (performance.now(), per read) of messages counted by
 * counter(), on the given clients. Call reset() between phases.
 */
export function timeArrivals(clients, counter) {
  const t = {
    first: 0,
    last: 0,
    firstCount: 0,
    base: 0,
    reset() {
      t.first = 0;
      t.last = 0;
      t.firstCount = 0;
      t.base = counter();
    },
  };
  const onData = () => {
    const now = performance.now();
    if (t.first === 0) {
      const n = counter() - t.base;
      if (n === 0) return;
      t.first = now;
      t.firstCount = n;
    }
    t.last = now;
  };
  for (const c of clients) c.afterRead.push(onData);
  return t;
}

/**
 * Size the measured phase from a calibration phase: the count that takes about targetS
 * seconds at the calibration rate, clamped to [min, max] and rounded to `multiple`.
 */
export function sizeFor(rate, targetS, min, max, multiple = 1) {
  const n = Number.isFinite(rate) && rate > 0 ? rate * targetS : min;
  return Math.max(min, Math.min(max, Math.round(n / multiple) * multiple));
}

/** Messages per second between the first and the last arrival (messages in the first chunk excluded). */
export function rateOf(t, total) {
  const dt = (t.last - t.first) / 1000;
  if (!(dt > 0)) return NaN;
  return (total - t.firstCount) / dt;
}

/**
 * Wait until count() reaches target, or nothing new arrived for idleMs, or the deadline.
 * If `meter` is given ({ cpu0, t0 } from generatorMeter()), meter.load is set to the
 * generator's CPU use (fraction of one core) from meter.t0 to the last observed progress.
 */
export async function waitForCount(count, target, idleMs, deadline, meter = null) {
  let lastN = count();
  let lastChange = Date.now();
  const mark = () => {
    if (!meter) return;
    const u = process.cpuUsage(meter.cpu0);
    const wall = performance.now() - meter.t0;
    if (wall > 0) meter.load = (u.user + u.system) / 1000 / wall;
  };
  while (Date.now() < deadline) {
    const n = count();
    if (n >= target) {
      mark();
      return n;
    }
    if (n !== lastN) {
      lastN = n;
      lastChange = Date.now();
      mark();
    } else if (Date.now() - lastChange > idleMs) {
      return n;
    }
    await sleep(5);
  }
  return count();
}

/** Start measuring the generator's own CPU use (see waitForCount). */
export function generatorMeter() {
  return { cpu0: process.cpuUsage(), t0: performance.now(), load: NaN };
}

/** A note when the generator itself was (nearly) saturated: the figure is then a lower bound. */
export function generatorNote(meter) {
  if (!(meter.load > 0.85)) return null;
  return `generator busy ${Math.round(meter.load * 100)}% of a core during the measurement: the figure may be limited by the load generator (a lower bound)`;
}

/**
 * Calibrate, then measure: phase(count) runs one phase and returns at least
 * { rate, secs, sent, wanted }. The calibration phase (`probe`, also the warm-up) sizes the
 * measured phase to last about `target` seconds (rate / perCount counts per second); if the
 * measured phase still ends in under half the target (the calibration ran cold), it is sized
 * again from its own rate and repeated once. Returns { cal, m, runs }.
 */
export async function calibrated(phase, { probe, target, min, max, multiple = 1, perCount = 1 }) {
  const checked = async (n, what) => {
    const r = await phase(n);
    // The send side is only throttled by TCP backpressure (QoS 0) or PUBACKs (QoS 1), and a
    // phase is sized for a few seconds: not getting everything out within 15 s is a stall.
    if (r.sent < r.wanted) throw new Error(`broker stalled in the ${what} phase: ${r.sent} of ${r.wanted} messages sent within the time limit`);
    if (r.acked !== undefined && r.acked < r.sent) throw new Error(`broker stalled in the ${what} phase: ${r.sent - r.acked} of ${r.sent} QoS 1 PUBLISHes never acknowledged`);
    return r;
  };
  const cal = await checked(probe, 'calibration');
  const n1 = sizeFor(cal.rate / perCount, target, min, max, multiple);
  let m = await checked(n1, 'measured');
  let runs = 1;
  if (m.secs < target / 2 && n1 < max && Number.isFinite(m.rate)) {
    m = await checked(sizeFor(m.rate / perCount, target, min, max, multiple), 'measured');
    runs = 2;
  }
  return { cal, m, runs };
}

/**
 * Cluster scenarios: wait until a message published on another node (`pubPort`) reaches the
 * subscriber. The subscription reaches the other nodes through Redis after its SUBACK, so the
 * scenario must not start before. Publishes one QoS 0 `probe` PUBLISH (pre-encoded, to a topic
 * the subscriber matches) every 25 ms until `arrived()` is true or `timeoutMs` passed, then waits
 * 300 ms more so that probes still on their way land before the caller resets its counters.
 * Resolves { ms, sent }: the milliseconds the first arrival took (NaN if nothing crossed: not
 * clustered) and the probes sent.
 */
export async function awaitCrossNode(pubPort, clientId, probe, arrived, timeoutMs = 10000) {
  const pub = await openClient(pubPort, clientId);
  const t0 = performance.now();
  const until = Date.now() + timeoutMs;
  let took = NaN;
  let sent = 0;
  while (Date.now() < until) {
    pub.sock.write(probe);
    sent++;
    if (await waitUntil(arrived, Math.min(until, Date.now() + 25), 2)) {
      took = performance.now() - t0;
      break;
    }
  }
  close(pub);
  if (Number.isFinite(took)) await sleep(300);
  return { ms: took, sent };
}
