// nestmq's embeddable Broker from dist/, default options, one listener on 127.0.0.1: TCP, or
// WebSocket (path /mqtt) with --ws, or TLS with --tls. Usage: node nestmq.cjs PORT [--ws] [SQLITE_FILE]
// (a file turns persistence on), or node nestmq.cjs PORT --cluster REDIS_URL NODE_ID for one node
// of a cluster (`cluster: { redis, node-id }`, everything else at its defaults), or
// node nestmq.cjs PORT --tls CERT_FILE KEY_FILE.
// NESTMQ_BENCH_LIMITS='{"max-packet-size":2097152}' overrides `limits` keys (bench/scale.mjs: the
// curves go past some defaults on purpose, e.g. 1M retained messages from one anonymous client).
// SIGTERM stops the broker cleanly (stores flushed and closed) before exiting: the scale curves
// restart a broker on its SQLite file; SIGKILL, as bench/run.mjs uses, stays a crash.
const { Broker } = require('../../dist/index.js');

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node nestmq.cjs PORT [--ws] [SQLITE_FILE] | PORT --cluster REDIS_URL NODE_ID | PORT --tls CERT KEY');
  process.exit(2);
}
const rest = process.argv.slice(3);
const clusterAt = rest.indexOf('--cluster');
const cluster = clusterAt >= 0 ? { redis: rest[clusterAt + 1], 'node-id': rest[clusterAt + 2] } : null;
const ws = rest.includes('--ws');
// --tls CERT KEY: a TLS listener instead of plain TCP (bench/tls-share.mjs).
const tlsAt = rest.indexOf('--tls');
const tls = tlsAt >= 0 ? { certfile: rest[tlsAt + 1], keyfile: rest[tlsAt + 2] } : null;
const db = clusterAt >= 0 || tls ? undefined : rest.find((a) => a !== '--ws');
// Exit status the harness reads as "this nestmq has no cluster mode": the config refused the key.
const EXIT_NO_CLUSTER = 3;

(async () => {
  let b;
  try {
    b = new Broker({
      listeners: { default: tls ? { type: 'tcp', ssl: true, bind: '127.0.0.1:' + port, ...tls } : { type: ws ? 'ws' : 'tcp', bind: '127.0.0.1:' + port } },
      ...(db ? { persistence: { backend: 'sqlite', path: db } } : {}),
      ...(cluster ? { cluster } : {}),
      ...(process.env.NESTMQ_BENCH_LIMITS ? { limits: JSON.parse(process.env.NESTMQ_BENCH_LIMITS) } : {}),
    });
  } catch (err) {
    if (cluster && /cluster/.test(String(err && err.message))) {
      console.error(`nestmq: no cluster mode in this build: ${err.message}`);
      process.exit(EXIT_NO_CLUSTER);
    }
    throw err;
  }
  await b.start();
  process.once('SIGTERM', () => {
    b.stop().then(
      () => process.exit(0),
      (err) => {
        console.error('nestmq stop failed:', err);
        process.exit(1);
      },
    );
  });
  console.log(`ready nestmq ${ws ? 'ws' : 'tcp'} 127.0.0.1:${port}${cluster ? ` cluster ${cluster['node-id']} redis ${cluster.redis}` : ''} pid ${process.pid}`);
  // For diagnosis: NESTMQ_BENCH_STATS=1 prints the broker's counters every second on stderr.
  if (process.env.NESTMQ_BENCH_STATS) setInterval(() => console.error(JSON.stringify(b.stats)), 1000).unref();
})().catch((err) => {
  console.error('nestmq failed to start:', err);
  process.exit(1);
});
// Die with the orchestrator: its end of our stdin closes when it exits.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
