// Scale curve "subscriptions" (bench/scale.mjs): ctx.n distinct filters on one broker, held by
// ceil(n / PER_CLIENT) clients (nestmq's default max-subscriptions is 1000 per client), sent as
// SUBSCRIBE packets of PER_PACKET filters each, pipelined. Filters of client k: 10% one-level
// wildcards `scale/c<k>/+/w<j>`, 1% multi-level `scale/c<k>/w<j>/#`, the rest exact
// `scale/c<k>/t<j>`. Figures: RSS growth per filter (clients included), filters subscribed per
// second, and publish-to-delivery time: a publisher sends QoS 0 to `scale/c0/t0` (client 0 holds
// it), waits for the delivery, ROUNDS times in turn; median and p99.
import { openMany, openClient, sleep, waitUntil } from '../lib/client.mjs';
import { PUBLISH, SUBACK } from '../lib/frames.mjs';
import { rssKB } from '../lib/brokers.mjs';
import { percentileSorted, median } from '../lib/stats.mjs';
import * as P from '../lib/packets.mjs';

const PER_CLIENT = 1000;
const PER_PACKET = 100;
const ROUNDS = 300;

export function filterOf(k, j) {
  if (j % 100 === 2) return `scale/c${k}/w${j}/#`;
  if (j % 10 === 1) return `scale/c${k}/+/w${j}`;
  return `scale/c${k}/t${j}`;
}

export async function run(ctx) {
  const { port, brokerPid, n } = ctx;
  const clients = Math.ceil(n / PER_CLIENT);
  let subacks = 0;
  let refused = 0;
  let delivered = 0;
  let wake = null; // resolves the latency round's promise from the frame handler (no polling)
  await sleep(1000);
  const before = rssKB(brokerPid);
  const conns = await openMany(port, clients, (k) => ({
    clientId: `scale-subs-${k}`,
    onFrame: (h, buf, s, e) => {
      if ((h & 0xf0) === SUBACK) {
        subacks++;
        for (let i = s + 2; i < e; i++) if (buf[i] === 0x80) refused++;
      } else if ((h & 0xf0) === PUBLISH && k === 0) {
        delivered++;
        if (wake) wake();
      }
    },
  }), { concurrency: 50 });
  const t0 = performance.now();
  let packets = 0;
  for (let k = 0; k < clients; k++) {
    const mine = Math.min(PER_CLIENT, n - k * PER_CLIENT);
    const pkts = [];
    for (let j0 = 0, id = 1; j0 < mine; j0 += PER_PACKET, id++) {
      const subs = [];
      for (let j = j0; j < Math.min(mine, j0 + PER_PACKET); j++) subs.push({ topic: filterOf(k, j), qos: 0 });
      pkts.push(P.subscribe(id, subs));
    }
    packets += pkts.length;
    conns[k].sock.write(Buffer.concat(pkts));
    // a few clients' worth in flight at a time: the broker's socket buffers stay bounded
    if (k % 20 === 19) await waitUntil(() => subacks >= packets - 200, Date.now() + 120000, 2);
  }
  if (!(await waitUntil(() => subacks >= packets, Date.now() + 180000, 5))) throw new Error(`only ${subacks} of ${packets} SUBACKs`);
  const subMs = performance.now() - t0;
  if (refused) throw new Error(`${refused} filters refused (SUBACK 0x80)`);
  await sleep(2000);
  const after = rssKB(brokerPid);
  const pub = await openClient(port, 'scale-subs-pub');
  const pkt = P.publish('scale/c0/t0', Buffer.alloc(16, 0x73));
  const lat = [];
  for (let r = 0; r < ROUNDS; r++) {
    const want = delivered + 1;
    let timer;
    const arrived = new Promise((resolve) => {
      wake = () => delivered >= want && resolve(true);
      timer = setTimeout(() => resolve(false), 5000);
    });
    const t = performance.now();
    pub.sock.write(pkt);
    const ok = await arrived;
    lat.push(performance.now() - t);
    clearTimeout(timer);
    wake = null;
    if (!ok) throw new Error(`publish ${r}: no delivery within 5 s`);
  }
  lat.sort((a, b) => a - b);
  return {
    values: { bytesPerSub: ((after - before) * 1024) / n, subRate: n / (subMs / 1000), latMs: median(lat), p99Ms: percentileSorted(lat, 99), rssMB: after / 1024 },
    notes: [`${clients} clients, ${packets} SUBSCRIBE packets; RSS ${(before / 1024).toFixed(1)} → ${(after / 1024).toFixed(1)} MB`],
  };
}
