// node mem-child.js DIST CONFIG_JSON: a broker; answers 'mem' over IPC with its memory figures.
const { Broker } = require(process.argv[2] + '/index.js');
const broker = new Broker(JSON.parse(process.argv[3]));
broker.start().then(() => process.send({ port: broker.port() }));
process.on('message', (m) => {
  if (m === 'gc') { global.gc?.(); global.gc?.(); }
  const u = process.memoryUsage();
  process.send({ rss: u.rss, heapUsed: u.heapUsed, external: u.external, arrayBuffers: u.arrayBuffers, conns: broker.connectionCount, stats: { closedConnectTooLarge: broker.stats.closedConnectTooLarge, refusedAddressLimit: broker.stats.refusedAddressLimit } });
});
