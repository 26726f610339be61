// Aedes (v1 API), default options, 127.0.0.1 only: on a plain net server, or with --ws on an
// http server with a `ws` WebSocketServer on path /mqtt (sub-protocol `mqtt`), each WebSocket
// handed to aedes.handle() as a stream (createWebSocketStream), as in Aedes' own example.
// Usage: node aedes.mjs PORT [--ws]
import http from 'node:http';
import net from 'node:net';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { Aedes } from 'aedes';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node aedes.mjs PORT [--ws]');
  process.exit(2);
}
const ws = process.argv.slice(3).includes('--ws');
const aedes = await Aedes.createBroker();
let server;
if (ws) {
  server = http.createServer();
  const wss = new WebSocketServer({
    server,
    path: '/mqtt',
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : false),
  });
  wss.on('connection', (socket, req) => aedes.handle(createWebSocketStream(socket), req));
} else {
  server = net.createServer(aedes.handle);
}
server.on('error', (err) => {
  console.error('aedes server error:', err);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
  console.log(`ready aedes ${ws ? 'ws' : 'tcp'} 127.0.0.1:${port} pid ${process.pid}`);
});
// Die with the orchestrator: its end of our stdin closes when it exits.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
