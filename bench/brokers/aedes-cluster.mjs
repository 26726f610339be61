// One node of an Aedes cluster, as Node users run it today: Aedes 1.2 (v1 API) with
// mqemitter-redis (messages between nodes over Redis pub/sub) and aedes-persistence-redis
// (subscriptions, retained, offline queues, wills in Redis), both at their default options
// apart from the Redis URL, on a plain net server on 127.0.0.1.
// Usage: node aedes-cluster.mjs PORT REDIS_URL [NODE_ID]
// (NODE_ID only names the node in the log; Aedes picks its own broker id.)
import net from 'node:net';
import { createRequire } from 'node:module';
import { Aedes } from 'aedes';

const require = createRequire(import.meta.url);
const mqemitterRedis = require('mqemitter-redis');
const aedesPersistenceRedis = require('aedes-persistence-redis');

const port = Number(process.argv[2]);
const redisUrl = process.argv[3];
const nodeId = process.argv[4] ?? `aedes-${port}`;
if (!Number.isInteger(port) || port <= 0 || !redisUrl) {
  console.error('usage: node aedes-cluster.mjs PORT REDIS_URL [NODE_ID]');
  process.exit(2);
}

const mq = mqemitterRedis({ connectionString: redisUrl });
// aedes-persistence-redis takes ioredis options (or a URL as `path`-less options): host and port.
const url = new URL(redisUrl);
const persistence = aedesPersistenceRedis({ host: url.hostname, port: Number(url.port) || 6379 });
const aedes = await Aedes.createBroker({ mq, persistence });
const server = net.createServer(aedes.handle);
server.on('error', (err) => {
  console.error('aedes-cluster server error:', err);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
  console.log(`ready aedes-cluster ${nodeId} tcp 127.0.0.1:${port} redis ${redisUrl} pid ${process.pid}`);
});
// Die with the orchestrator: its end of our stdin closes when it exits.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
