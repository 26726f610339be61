// Aedes (v1 API) on a plain net server, default options, 127.0.0.1 only. Usage: node aedes.mjs PORT
import net from 'node:net';
import { Aedes } from 'aedes';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node aedes.mjs PORT');
  process.exit(2);
}
const aedes = await Aedes.createBroker();
const server = net.createServer(aedes.handle);
server.on('error', (err) => {
  console.error('aedes server error:', err);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
  console.log(`ready aedes 127.0.0.1:${port} pid ${process.pid}`);
});
// Die with the orchestrator: its end of our stdin closes when it exits.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
