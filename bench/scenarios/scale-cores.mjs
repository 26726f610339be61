// "Beyond one process" (bench/scale.mjs): the load of one node. PUBS publishers and one
// subscriber on ctx.port, all on this node's own topics `cores/<ctx.node>/<p>` (the subscriber on
// `cores/<ctx.node>/#`), so that nodes add capacity rather than cross traffic (a node still
// publishes each message to the cluster bus when another node could match it). All workers start
// pumping at ctx.startAt (epoch ms) and stop at startAt + RUN_MS; figure: messages received per
// second between startAt + WARM_MS and the end.
import { openClient, openMany, pump, sleep } from '../lib/client.mjs';
import { PUBLISH } from '../lib/frames.mjs';
import * as P from '../lib/packets.mjs';

const PUBS = 4;
const BATCH = 64;
export const RUN_MS = 8000;
const WARM_MS = 2000;

export async function run(ctx) {
  const { port, node, startAt } = ctx;
  let received = 0;
  await openClient(port, `scale-cores-sub-${node}`, {
    subscribe: [{ topic: `cores/${node}/#`, qos: 0 }],
    onFrame: (h) => {
      if ((h & 0xf0) === PUBLISH) received++;
    },
  });
  const pubs = await openMany(port, PUBS, (p) => ({ clientId: `scale-cores-pub-${node}-${p}` }));
  const batches = pubs.map((_, p) => P.repeat(P.publish(`cores/${node}/${p}`, Buffer.alloc(64, 0x63)), BATCH));
  const pktLen = batches[0].length / BATCH;
  await sleep(Math.max(0, startAt - Date.now()));
  const end = startAt + RUN_MS;
  let atWarm = 0;
  const warm = sleep(WARM_MS).then(() => (atWarm = received));
  await Promise.all(pubs.map((c, p) => pump(c.sock, [batches[p]], BATCH, pktLen, Number.MAX_SAFE_INTEGER, end)));
  await warm;
  const rate = (received - atWarm) / ((Date.now() - startAt - WARM_MS) / 1000);
  return { values: { rate }, notes: [] };
}
