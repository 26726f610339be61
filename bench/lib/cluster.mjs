// The cluster rows' set-up: one redis-server (fresh, no persistence, on a free loopback port) and
// three broker nodes of one kind pointing at it, all child processes of the orchestrator like the
// single brokers. The generator's subscriber goes to node 1, its publishers to node 2; node 3
// holds no client (it still pays for the cluster's background traffic, as a real third replica
// would).
import net from 'node:net';
import { startBroker } from './brokers.mjs';

export const NODES = 3;

/** The node kind (bench/lib/brokers.mjs startBroker name) behind a table column. */
const NODE_KIND = { nestmq: 'nestmq-cluster', aedes: 'aedes-cluster' };

/** Exit status of bench/brokers/nestmq.cjs when the build refuses the `cluster` key. */
const EXIT_NO_CLUSTER = 3;

/**
 * Start Redis and NODES nodes of `column`'s cluster kind. Resolves a broker-like object for the
 * orchestrator ({ port, pid, exited, log(), stop(), ctx, redisPort, pids }): `ctx` is what the
 * generator needs (subPort = node 1, pubPort = node 2). A nestmq build without a cluster mode
 * rejects with err.notClustered set.
 */
export async function startCluster(column) {
  const kind = NODE_KIND[column];
  if (!kind) throw new Error(`${column} has no cluster mode`);
  const started = [];
  const stopAll = async () => {
    await Promise.all(started.map((b) => b.stop()));
  };
  try {
    const redis = await startBroker('redis');
    started.push(redis);
    const redisUrl = `redis://127.0.0.1:${redis.port}`;
    const nodes = await Promise.all(
      Array.from({ length: NODES }, (_, i) =>
        startBroker(kind, { redisUrl, nodeId: `bench-node-${i + 1}`, readyTimeoutMs: 30000 }).then((b) => {
          started.push(b);
          return b;
        }),
      ),
    );
    const all = [redis, ...nodes];
    return {
      name: column,
      port: nodes[0].port,
      pid: nodes[0].pid,
      redisPort: redis.port,
      redisPid: redis.pid,
      nodePids: nodes.map((n) => n.pid),
      ctx: { cluster: true, subPort: nodes[0].port, pubPort: nodes[1].port },
      exited: Promise.race(all.map((b, i) => b.exited.then((info) => ({ ...info, which: i === 0 ? 'redis' : `node ${i}` })))),
      log: () => all.map((b, i) => (b.log() ? `[${i === 0 ? 'redis' : `node ${i}`}] ${b.log().split('\n').slice(-2).join(' | ')}` : '')).filter(Boolean).join(' '),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    if (err.message.includes(`(exited code=${EXIT_NO_CLUSTER} `)) {
      const e = new Error(`not clustered: this build refuses the \`cluster\` config key (${err.message.split(' | ').slice(-1)[0].trim()})`);
      e.notClustered = true;
      throw e;
    }
    throw err;
  }
}

/**
 * One `INFO` from Redis over a plain socket (RESP inline command). Resolves { fields, replyBytes }:
 * the INFO fields by name, and the size of the reply, which Redis itself counts in
 * total_net_output_bytes (the caller subtracts it from a delta).
 */
export function redisInfo(port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('redis INFO: no answer within 5 s'));
    }, 5000);
    sock.on('connect', () => sock.write('INFO\r\n'));
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const nl = buf.indexOf('\r\n');
      if (nl < 0 || buf[0] !== 0x24) return; // '$' bulk string
      const len = Number(buf.subarray(1, nl).toString());
      if (buf.length < nl + 2 + len + 2) return;
      clearTimeout(timer);
      sock.destroy();
      const fields = {};
      for (const line of buf.subarray(nl + 2, nl + 2 + len).toString().split('\r\n')) {
        const i = line.indexOf(':');
        if (i > 0 && line[0] !== '#') fields[line.slice(0, i)] = line.slice(i + 1);
      }
      resolve({ fields, replyBytes: buf.length });
    });
  });
}

/**
 * Redis' cost between two INFO snapshots, per routed message: network bytes in + out (what the
 * nodes' traffic costs on the wire and in Redis' event loop; it includes pub/sub fan-out to
 * subscribers and every reply, which commandstats does not count in bytes), commands processed,
 * and Redis CPU time. The first snapshot's own reply and the second INFO command are taken out.
 */
export function redisCost(before, after, messages, wallMs) {
  const n = (s, k) => Number(s.fields[k] ?? NaN);
  const bytes =
    n(after, 'total_net_input_bytes') - n(before, 'total_net_input_bytes') - 'INFO\r\n'.length +
    (n(after, 'total_net_output_bytes') - n(before, 'total_net_output_bytes') - before.replyBytes);
  const commands = n(after, 'total_commands_processed') - n(before, 'total_commands_processed') - 1;
  const cpuS = n(after, 'used_cpu_sys') + n(after, 'used_cpu_user') - n(before, 'used_cpu_sys') - n(before, 'used_cpu_user');
  return {
    bytesPerMessage: messages > 0 ? bytes / messages : NaN,
    commandsPerMessage: messages > 0 ? commands / messages : NaN,
    redisCores: (cpuS * 1000) / wallMs,
    usedMemory: n(after, 'used_memory'),
  };
}
