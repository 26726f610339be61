/**
 * Reloads without a restart (docs/operations.md "Reloading"): users, ACLs (the config file's
 * inline topic-check.acl, hbmqtt's only form) and TLS certificates, through the file watch of a
 * Kubernetes-style volume (files are symlinks through `..data`, an update swaps `..data`),
 * POST /api/v1/reload, and SIGHUP of the built service. Nobody is disconnected; a failed part
 * keeps its previous state.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { hashPassword, loadConfigFile } from '../../src';
import { type NestmqService, startService } from '../../src/service';
import { generateTestCerts, removeTestCerts, type TestCerts } from '../helpers/tls';
import { sleep, waitFor } from '../helpers/wait';

const TOKEN = 'reload-test-token-0123456789';

let root: string;
let certsA: TestCerts;
let certsB: TestCerts;
let hashes: Record<string, string>;
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'nestmq-reload-'));
  [certsA, certsB] = await Promise.all([generateTestCerts(), generateTestCerts()]);
  hashes = { alice: await hashPassword('alice-pw', 4), bob: await hashPassword('bob-pw', 4) };
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  removeTestCerts(certsA);
  removeTestCerts(certsB);
});

const clients: MqttClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.end(true);
});

/** CONNACK return code of a fresh client (0: connected, kept open and returned). */
function connect(url: string, options: IClientOptions = {}): Promise<{ code: number; client: MqttClient }> {
  return new Promise((resolve) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, protocolVersion: 4, ...options });
    clients.push(c);
    c.once('connect', () => resolve({ code: 0, client: c }));
    c.once('error', (err: Error & { code?: number }) => {
      c.end(true);
      resolve({ code: err.code ?? -1, client: c });
    });
  });
}

/** SUBACK granted QoS of one filter (128 = refused). */
function subscribe(c: MqttClient, filter: string): Promise<number> {
  // MQTT.js reports a SUBACK 0x80 as an error carrying the packet.
  return new Promise((resolve) =>
    c.subscribe(filter, { qos: 1 }, (err, granted) =>
      resolve(err ? ((err as Error & { packet?: { granted?: number[] } }).packet?.granted?.[0] ?? -1) : granted![0].qos),
    ),
  );
}

/** SHA-256 fingerprint of the certificate a TLS listener serves now. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.destroy();
      resolve(fp);
    });
    s.on('error', reject);
  });
}

const fingerprint = (pem: Buffer): string => new X509Certificate(pem).fingerprint256;

interface Volume {
  dir: string;
  /** Writes a new timestamped folder and swaps `..data` to it, as the kubelet does. */
  swap(files: Record<string, string | Buffer>): void;
}

let volumeSeq = 0;
/** A ConfigMap/Secret-style volume: `NAME -> ..data/NAME`, `..data -> ..<version>`. */
function volume(files: Record<string, string | Buffer>): Volume {
  const dir = join(root, `volume-${++volumeSeq}`);
  mkdirSync(dir);
  let version = 0;
  const writeVersion = (content: Record<string, string | Buffer>): string => {
    const name = `..2024_01_01_00_00_0${++version}.000`;
    mkdirSync(join(dir, name));
    for (const [f, text] of Object.entries(content)) writeFileSync(join(dir, name, f), text);
    return name;
  };
  symlinkSync(writeVersion(files), join(dir, '..data'));
  for (const f of Object.keys(files)) symlinkSync(join('..data', f), join(dir, f));
  return {
    dir,
    swap(content) {
      const next = writeVersion(content);
      symlinkSync(next, join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    },
  };
}

function brokerYaml(dir: string, acl: Record<string, string[]>, extra: string[] = []): string {
  return [
    'listeners:',
    '  tcp:',
    '    bind: 127.0.0.1:0',
    '  mqtts:',
    '    bind: 127.0.0.1:0',
    '    ssl: on',
    `    certfile: ${join(dir, 'tls.crt')}`,
    `    keyfile: ${join(dir, 'tls.key')}`,
    '  wss:',
    '    bind: 127.0.0.1:0',
    '    type: ws',
    '    ssl: on',
    `    certfile: ${join(dir, 'tls.crt')}`,
    `    keyfile: ${join(dir, 'tls.key')}`,
    'auth:',
    "  plugins: ['auth.file']",
    '  allow-anonymous: false',
    `  password-file: ${join(dir, 'passwd')}`,
    'topic-check:',
    '  enabled: true',
    "  plugins: ['topic_acl']",
    '  acl:',
    ...Object.entries(acl).map(([u, topics]) => `    ${u}: [${topics.map((t) => `'${t}'`).join(', ')}]`),
    'admin:',
    '  bind: 127.0.0.1:0',
    `  token: ${TOKEN}`,
    'logging:',
    '  level: debug',
    ...extra,
    '',
  ].join('\n');
}

async function startFrom(configFile: string, logs: string[]): Promise<NestmqService> {
  return startService(loadConfigFile(configFile), { configFile, logDestination: { write: (line: string) => void logs.push(line) } });
}

describe('the file watch: a Kubernetes ..data swap of the config, password and certificate files reloads them', () => {
  it('a new user logs in, the inline ACL and the certificates (TLS and WSS) change, an existing connection stays up', async () => {
    const vol = volume({ 'passwd': `alice:${hashes.alice}\n`, 'tls.crt': certsA.server.cert, 'tls.key': certsA.server.key });
    const configFile = join(vol.dir, 'broker.yaml');
    // The config file in the same volume: written into the versioned folder too.
    const configText = (acl: Record<string, string[]>): string => brokerYaml(vol.dir, acl, ['reload:', '  debounce: 0.1']);
    writeFileSync(join(vol.dir, '..data', 'broker.yaml'), configText({ alice: ['a/#'] }));
    symlinkSync(join('..data', 'broker.yaml'), configFile);
    const logs: string[] = [];
    const service = await startFrom(configFile, logs);
    try {
      const url = `mqtt://127.0.0.1:${service.broker.port('tcp')}`;
      const alice = await connect(url, { clientId: 'alice', username: 'alice', password: 'alice-pw' });
      expect(alice.code).toBe(0);
      expect(await subscribe(alice.client, 'b/1')).toBe(128);
      expect((await connect(url, { clientId: 'bob', username: 'bob', password: 'bob-pw' })).code).toBe(4);
      expect(await servedFingerprint(service.broker.port('mqtts'))).toBe(fingerprint(certsA.server.cert));
      let aliceClosed = false;
      alice.client.on('close', () => (aliceClosed = true));

      vol.swap({
        'passwd': `alice:${hashes.alice}\nbob:${hashes.bob}\n`,
        'tls.crt': certsB.server.cert,
        'tls.key': certsB.server.key,
        'broker.yaml': configText({ alice: ['a/#', 'b/#'] }),
      });
      await waitFor(() => logs.some((l) => l.includes('reload (changed')), 5000, 'the watch to reload');
      const line = JSON.parse(logs.find((l) => l.includes('reload (changed'))!) as { msg: string };
      expect(line.msg).toMatch(/reloaded users, acl, tls:mqtts, tls:wss; unchanged none; failed none$/);

      expect((await connect(url, { clientId: 'bob', username: 'bob', password: 'bob-pw' })).code).toBe(0);
      expect(await subscribe(alice.client, 'b/1')).toBe(1);
      expect(aliceClosed).toBe(false);
      expect(await servedFingerprint(service.broker.port('mqtts'))).toBe(fingerprint(certsB.server.cert));
      expect(await servedFingerprint(service.broker.port('wss'))).toBe(fingerprint(certsB.server.cert));
    } finally {
      await service.shutdown('test');
    }
  });
});

describe('POST /api/v1/reload', () => {
  let dir: string;
  let service: NestmqService;
  const logs: string[] = [];
  beforeAll(async () => {
    dir = join(root, 'api');
    mkdirSync(dir);
    writeFileSync(join(dir, 'passwd'), `alice:${hashes.alice}\n`);
    writeFileSync(join(dir, 'tls.crt'), certsA.server.cert);
    writeFileSync(join(dir, 'tls.key'), certsA.server.key);
    writeFileSync(join(dir, 'broker.yaml'), brokerYaml(dir, { alice: ['a/#'] }, ['reload:', '  watch: false']));
    service = await startFrom(join(dir, 'broker.yaml'), logs);
  });
  afterAll(() => service?.shutdown('test'));

  const post = (headers: Record<string, string>): Promise<Response> =>
    fetch(`http://127.0.0.1:${service.adminAddress!.port}/api/v1/reload`, { method: 'POST', headers });
  const auth = { Authorization: `Bearer ${TOKEN}` };

  it('needs the token, and a JSON content type or the X-Nestmq-Request header', async () => {
    expect((await post({ 'Content-Type': 'application/json' })).status).toBe(401);
    expect((await post({ ...auth, 'Content-Type': 'application/json', Authorization: 'Bearer wrong-token-0123456789' })).status).toBe(401);
    expect((await post(auth)).status).toBe(415);
    expect((await post({ ...auth, 'X-Nestmq-Request': '1' })).status).toBe(200);
  });

  it('reports what changed; a failed part keeps its previous state while the others reload', async () => {
    const url = (): string => `mqtts://127.0.0.1:${service.broker.port('mqtts')}`;
    const ca = { ca: certsA.ca, servername: 'localhost' };
    expect(await (await post({ ...auth, 'Content-Type': 'application/json' })).json()).toEqual({
      reloaded: [],
      unchanged: ['users', 'acl', 'tls:mqtts', 'tls:wss'],
      failed: [],
    });
    writeFileSync(join(dir, 'passwd'), `alice:${hashes.alice}\nbob:${hashes.bob}\n`);
    writeFileSync(join(dir, 'tls.crt'), certsB.server.cert);
    writeFileSync(join(dir, 'tls.key'), certsA.server.key); // not the certificate's key: refused
    const res = await post({ ...auth, 'Content-Type': 'application/json' });
    expect(res.status).toBe(200);
    const report = (await res.json()) as { reloaded: string[]; unchanged: string[]; failed: { part: string; error: string }[] };
    expect(report.reloaded).toEqual(['users']);
    expect(report.unchanged).toEqual(['acl']);
    expect(report.failed.map((f) => f.part)).toEqual(['tls:mqtts', 'tls:wss']);
    expect(logs.some((l) => l.includes('reload (admin API): reloaded users; unchanged acl; failed tls:mqtts ('))).toBe(true);
    // The old certificate is still served, and clients of CA A still connect over TLS.
    expect(await servedFingerprint(service.broker.port('mqtts'))).toBe(fingerprint(certsA.server.cert));
    expect((await connect(url(), { ...ca, clientId: 'bob-tls', username: 'bob', password: 'bob-pw' })).code).toBe(0);
  });
});

describe('one reload per change: a request that has read the files is not repeated by the watch', () => {
  it('a POST /api/v1/reload right after an edit reloads it; the watch, seeing the same content, does not reload again', async () => {
    const dir = join(root, 'once');
    mkdirSync(dir);
    writeFileSync(join(dir, 'passwd'), `alice:${hashes.alice}\n`);
    writeFileSync(join(dir, 'tls.crt'), certsA.server.cert);
    writeFileSync(join(dir, 'tls.key'), certsA.server.key);
    const debounce = 0.2;
    writeFileSync(join(dir, 'broker.yaml'), brokerYaml(dir, { alice: ['a/#'] }, ['reload:', '  watch: true', `  debounce: ${debounce}`]));
    const logs: string[] = [];
    const service = await startFrom(join(dir, 'broker.yaml'), logs);
    const watchReloads = (): string[] => logs.filter((l) => l.includes('reload (changed'));
    try {
      writeFileSync(join(dir, 'passwd'), `alice:${hashes.alice}\nbob:${hashes.bob}\n`);
      const res = await fetch(`http://127.0.0.1:${service.adminAddress!.port}/api/v1/reload`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${TOKEN}`, 'X-Nestmq-Request': '1' },
      });
      expect(((await res.json()) as { reloaded: string[] }).reloaded).toEqual(['users']);
      // Nothing can be awaited for a reload that must not happen: give the watch ten debounce periods.
      await sleep(debounce * 10_000);
      expect(watchReloads()).toEqual([]);
      // A later edit is still the watch's to reload.
      writeFileSync(join(dir, 'passwd'), `bob:${hashes.bob}\n`);
      await waitFor(() => watchReloads().length > 0, 5000, 'the watch to reload the later edit');
      expect(watchReloads()).toHaveLength(1);
      expect(watchReloads()[0]).toMatch(/reloaded users/);
    } finally {
      await service.shutdown('test');
    }
  });
});

describe('SIGHUP of the built service (dist/main.js)', () => {
  let child: ChildProcessWithoutNullStreams | undefined;
  afterAll(() => child?.kill('SIGKILL'));

  it('re-reads the inline topic-check.acl from the config file, without dropping the connected client', async () => {
    const dir = join(root, 'sighup');
    mkdirSync(dir);
    const config = (topics: string[]): string =>
      [
        'listeners:',
        '  default:',
        '    bind: 127.0.0.1:0',
        'topic-check:',
        '  enabled: true',
        "  plugins: ['topic_acl']",
        '  acl:',
        `    anonymous: [${topics.map((t) => `'${t}'`).join(', ')}]`,
        'admin:',
        '  enabled: false',
        'reload:',
        '  watch: false',
        '',
      ].join('\n');
    writeFileSync(join(dir, 'broker.yaml'), config(['a/#']));
    child = spawn(process.execPath, [join(__dirname, '..', '..', 'dist', 'main.js'), '--config', join(dir, 'broker.yaml')], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    await waitFor(() => / started"/.test(out), 10000, 'the service to start');
    const port = Number(/bound to mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(out)![1]);
    const c = await connect(`mqtt://127.0.0.1:${port}`, { clientId: 'anon' });
    expect(c.code).toBe(0);
    expect(await subscribe(c.client, 'b/1')).toBe(128);
    writeFileSync(join(dir, 'broker.yaml'), config(['a/#', 'b/#']));
    child.kill('SIGHUP');
    await waitFor(() => out.includes('reload (SIGHUP)'), 5000, 'the reload log line');
    expect(out).toMatch(/reload \(SIGHUP\): reloaded acl; unchanged none; failed none/);
    expect(await subscribe(c.client, 'b/1')).toBe(1);
    expect(c.client.connected).toBe(true);
  });
});
