// Memory per idle connection, the heap's view (issue 14): the `idle` row measures RSS, which moves
// with the allocator and the machine; this measures what the broker's JavaScript holds. A child
// process runs the Broker from DIST (default options, one TCP listener on 127.0.0.1); this process
// opens N connections (CONNECT keepalive 0, at most 100 handshakes in flight, wait for CONNACK)
// and asks the child, before and after, for process.memoryUsage() after two forced GCs.
//   node bench/idle-heap.mjs [DIST=dist|bare] [N=10000] [PROTOCOL_LEVEL=4]
// Prints heapUsed, external + arrayBuffers and RSS deltas per connection (bytes).
import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openMany, destroyAll, liveCount } from './lib/client.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const [distArg = 'dist', nArg = '10000', levelArg = '4'] = process.argv.slice(2);
const N = Number(nArg);
const V5 = Number(levelArg) === 5;

if (process.env.IDLE_HEAP_CHILD) {
  // The broker side: start, report the port, answer 'measure' with memoryUsage after GC.
  // DIST `bare`: a plain net server that answers any bytes with a CONNACK and keeps each socket in
  // a Set, with one 'data' listener: the floor a Node broker cannot go below.
  let port;
  if (path.basename(process.env.IDLE_HEAP_CHILD) === 'bare') {
    const net = await import('node:net');
    const sockets = new Set();
    const connack = Buffer.from([0x20, 0x02, 0x00, 0x00]);
    const server = net.createServer((s) => {
      sockets.add(s);
      s.on('data', () => s.write(connack));
      s.on('close', () => sockets.delete(s));
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    port = server.address().port;
  } else {
    const { Broker } = await import(path.resolve(process.env.IDLE_HEAP_CHILD, 'index.js'));
    const b = new Broker({ listeners: { default: { type: 'tcp', bind: '127.0.0.1:0' } } });
    await b.start();
    port = b.mqttListeners[0].address.port;
  }
  process.on('message', async (m) => {
    if (m === 'measure') {
      global.gc();
      global.gc();
      const mu = process.memoryUsage();
      process.send({ heapUsed: mu.heapUsed, external: mu.external, arrayBuffers: mu.arrayBuffers, rss: mu.rss });
    } else if (m === 'snapshot') {
      // IDLE_HEAP_SNAPSHOT=FILE: a heap snapshot with the connections open (for diagnosis).
      const v8 = await import('node:v8');
      v8.writeHeapSnapshot(process.env.IDLE_HEAP_SNAPSHOT);
      process.send({ done: true });
    } else if (m === 'stop') {
      process.exit(0);
    }
  });
  process.send({ port });
} else {
  const child = fork(fileURLToPath(import.meta.url), [], {
    env: { ...process.env, IDLE_HEAP_CHILD: path.resolve(distArg) },
    execArgv: ['--expose-gc'],
  });
  const next = () => new Promise((resolve) => child.once('message', resolve));
  const { port } = await next();
  if (!port) throw new Error('the broker child gave no port');
  // Warm-up: the code that handles a connection is compiled now, not inside the measured delta.
  await openMany(port, 500, (i) => ({ clientId: `idle-warm-${i}`, keepalive: 0, v5: V5 }), { concurrency: 100 });
  destroyAll();
  await new Promise((r) => setTimeout(r, 500));
  child.send('measure');
  const before = await next();
  await openMany(port, N, (i) => ({ clientId: `idle-heap-${i}`, keepalive: 0, v5: V5 }), { concurrency: 100 });
  await new Promise((r) => setTimeout(r, 1000));
  child.send('measure');
  const after = await next();
  const per = (k) => ((after[k] - before[k]) / N).toFixed(0);
  const ext = ((after.external + after.arrayBuffers - before.external - before.arrayBuffers) / N).toFixed(0);
  console.log(`${distArg} v${V5 ? 5 : 4} N=${N} open=${liveCount()}: heapUsed ${per('heapUsed')} B/conn, external+arrayBuffers ${ext} B/conn, rss ${per('rss')} B/conn`);
  if (process.env.IDLE_HEAP_SNAPSHOT) {
    child.send('snapshot');
    await next();
  }
  destroyAll();
  child.send('stop');
  void here;
}
