// Memory held before login (hardening item 8): `npm run build`, then
//   node bench/connect-flood/attack.js "$PWD/dist" 200 1 '{"listeners":{"default":{"bind":"127.0.0.1:0"}}}'
// opens N loopback sockets that each send MiB of an unfinished CONNECT and prints the broker's memory before and after.
const { fork } = require('node:child_process');
const net = require('node:net');
const [dist, n, mib, config] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4]), process.argv[5]];
const child = fork(__dirname + '/broker-child.js', [dist, config], { execArgv: ['--expose-gc'] });
const ask = (m) => new Promise((r) => { child.once('message', r); child.send(m); });
const MB = (b) => (b / 1048576).toFixed(1) + ' MB';
child.once('message', async ({ port }) => {
  const before = await ask('gc');
  const len = mib * 1024 * 1024;
  const rl = []; let x = len; do { let b = x % 128; x = Math.floor(x / 128); if (x > 0) b |= 128; rl.push(b); } while (x > 0);
  const payload = Buffer.concat([Buffer.from([0x10, ...rl]), Buffer.alloc(len - 1, 0x41)]);
  const sockets = [];
  let closedEarly = 0;
  await Promise.all(Array.from({ length: n }, () => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    sockets.push(s);
    s.on('error', () => {});
    s.once('close', () => { closedEarly++; resolve(); });
    s.once('connect', () => s.write(payload, () => resolve()));
  })));
  await new Promise((r) => setTimeout(r, 1500));
  const after = await ask('gc');
  console.log(JSON.stringify({ sockets: n, mibEach: mib, closedByBroker: closedEarly, brokerConnections: after.conns, stats: after.stats,
    rss: `${MB(before.rss)} -> ${MB(after.rss)} (+${MB(after.rss - before.rss)})`,
    heapUsed: `${MB(before.heapUsed)} -> ${MB(after.heapUsed)}`,
    arrayBuffers: `${MB(before.arrayBuffers)} -> ${MB(after.arrayBuffers)} (+${MB(after.arrayBuffers - before.arrayBuffers)})` }));
  for (const s of sockets) s.destroy();
  child.kill();
});
