// The load generator: one process per scenario run, so that a stuck or failed run is
// cleaned up by killing it. Usage: node worker.mjs SCENARIO PORT BROKER_PID SCALE [CTX_JSON]
// (CTX_JSON: extra scenario context, e.g. the cluster rows' {cluster, subPort, pubPort}).
// Prints one line `RESULT {json}` on stdout and exits.
import { setUnexpectedCloseHandler, destroyAll } from './client.mjs';

const [scenario, portS, pidS, scaleS, ctxJson] = process.argv.slice(2);
let finished = false;

function finish(res) {
  if (finished) return;
  finished = true;
  destroyAll();
  const u = process.cpuUsage();
  res.generatorCpuMs = (u.user + u.system) / 1000;
  process.stdout.write('RESULT ' + JSON.stringify(res) + '\n', () => process.exit(0));
}

process.on('uncaughtException', (err) => finish({ ok: false, error: `generator error: ${err.message}` }));
process.on('unhandledRejection', (err) => finish({ ok: false, error: `generator error: ${err && err.message}` }));
// Die with the orchestrator.
process.stdin.on('end', () => process.exit(1));
process.stdin.resume();

setUnexpectedCloseHandler((err) => finish({ ok: false, error: err.message }));

try {
  const mod = await import(`../scenarios/${scenario}.mjs`);
  const res = await mod.run({ ...(ctxJson ? JSON.parse(ctxJson) : {}), port: Number(portS), brokerPid: Number(pidS), scale: Number(scaleS) || 1 });
  finish({ ok: true, ...res });
} catch (err) {
  finish({ ok: false, error: err.message });
}
