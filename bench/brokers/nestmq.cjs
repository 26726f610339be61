// nestmq's embeddable Broker from dist/, default options, one listener on 127.0.0.1: TCP, or
// WebSocket (path /mqtt) with --ws. Usage: node nestmq.cjs PORT [--ws] [SQLITE_FILE]
// (a file turns persistence on)
const { Broker } = require('../../dist/index.js');

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node nestmq.cjs PORT [--ws] [SQLITE_FILE]');
  process.exit(2);
}
const rest = process.argv.slice(3);
const ws = rest.includes('--ws');
const db = rest.find((a) => a !== '--ws');

(async () => {
  const b = new Broker({
    listeners: { default: { type: ws ? 'ws' : 'tcp', bind: '127.0.0.1:' + port } },
    ...(db ? { persistence: { backend: 'sqlite', path: db } } : {}),
  });
  await b.start();
  console.log(`ready nestmq ${ws ? 'ws' : 'tcp'} 127.0.0.1:${port} pid ${process.pid}`);
  // For diagnosis: NESTMQ_BENCH_STATS=1 prints the broker's counters every second on stderr.
  if (process.env.NESTMQ_BENCH_STATS) setInterval(() => console.error(JSON.stringify(b.stats)), 1000).unref();
})().catch((err) => {
  console.error('nestmq failed to start:', err);
  process.exit(1);
});
// Die with the orchestrator: its end of our stdin closes when it exits.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
