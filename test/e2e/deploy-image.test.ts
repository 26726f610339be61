/**
 * The container image, without a container engine (none runs on these machines): the Dockerfile's
 * runtime stage is parsed (WORKDIR, COPY, RUN, VOLUME, USER, ENV, ENTRYPOINT, CMD) and its command
 * line is run the way the image would run it:
 *  - the files the stage COPYs, in a copy of its WORKDIR that is read-only (`chmod -R a-w`; the
 *    built dist/ and the shared node_modules stand in for the build and deps stages);
 *  - each VOLUME folder created and owned by the user that runs the broker, as the stage's
 *    `mkdir -p … && chown node:node …` does;
 *  - ENTRYPOINT + CMD with the stage's ENV, from WORKDIR, as a non-root user (uid/gid 65534,
 *    `nobody`, through setpriv, when the tests run as root);
 *  - the image's absolute paths (WORKDIR, volumes) live under a temporary root folder: they are
 *    rewritten to it in the command line and the copied config, as a container's mounts would map
 *    them. The listeners' ports are the only other change (NESTMQ_*__BIND=127.0.0.1:0, the
 *    machine is shared), like `docker run -p`.
 * The broker must start, accept an MQTT connection, commit a message, and have its database in
 * the volume.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import mqtt from 'mqtt';
import { parse } from 'yaml';
import { validateConfig } from '../../src';

const root = join(__dirname, '..', '..');

interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  name: string | undefined;
  instructions: Instruction[];
}

/** A Dockerfile's stages and their instructions (comments dropped, `\` continuations joined). */
function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw)) continue;
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    current += line;
    if (current.trim() !== '') logical.push(current.trim());
    current = '';
  }
  const stages: Stage[] = [];
  for (const l of logical) {
    const m = /^(\w+)\s+(.*)$/s.exec(l);
    if (m === null) throw new Error(`Dockerfile: cannot read ${l}`);
    const keyword = m[1].toUpperCase();
    if (keyword === 'FROM') stages.push({ name: /\bAS\s+(\S+)/i.exec(m[2])?.[1], instructions: [] });
    else if (stages.length > 0) stages[stages.length - 1].instructions.push({ keyword, args: m[2] });
  }
  return stages;
}

/** Exec form (a JSON array) only: the shell form would make /bin/sh PID 1, and it does not pass SIGTERM on. */
function execForm(i: Instruction): string[] {
  const value: unknown = JSON.parse(i.args);
  if (!Array.isArray(value)) throw new Error(`${i.keyword} must be in exec form (a JSON array)`);
  return value as string[];
}

/** `ENV A=1 B=2` or `ENV A 1`. */
function envOf(i: Instruction): Record<string, string> {
  const unquote = (v: string): string => v.replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1');
  if (!/^\S+=/.test(i.args)) {
    const [k, ...v] = i.args.split(/\s+/);
    return { [k]: unquote(v.join(' ')) };
  }
  return Object.fromEntries(i.args.split(/\s+/).map((kv) => [kv.slice(0, kv.indexOf('=')), unquote(kv.slice(kv.indexOf('=') + 1))]));
}

interface Runtime {
  workdir: string;
  env: Record<string, string>;
  user: string | undefined;
  volumes: string[];
  /** RUN commands before the first VOLUME / after it. */
  runs: { args: string; afterVolume: boolean }[];
  /** `dest` resolved against WORKDIR; `intoFolder`: it ended with `/` (or there are several sources). */
  copies: { from: string | undefined; sources: string[]; dest: string; intoFolder: boolean }[];
  command: string[];
}

/** The last stage: what the image runs. */
function runtimeOf(stages: Stage[]): Runtime {
  const stage = stages[stages.length - 1];
  const r: Runtime = { workdir: '/', env: {}, user: undefined, volumes: [], runs: [], copies: [], command: [] };
  let entrypoint: string[] = [];
  let cmd: string[] = [];
  for (const i of stage.instructions) {
    switch (i.keyword) {
      case 'WORKDIR':
        r.workdir = posix.resolve(r.workdir, i.args);
        break;
      case 'ENV':
        Object.assign(r.env, envOf(i));
        break;
      case 'USER':
        r.user = i.args;
        break;
      case 'VOLUME':
        r.volumes.push(...(i.args.startsWith('[') ? execForm(i) : i.args.split(/\s+/)));
        break;
      case 'RUN':
        r.runs.push({ args: i.args, afterVolume: r.volumes.length > 0 });
        break;
      case 'COPY': {
        const words = i.args.split(/\s+/);
        const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
        const paths = words.filter((w) => !w.startsWith('--'));
        const dest = paths[paths.length - 1];
        r.copies.push({ from, sources: paths.slice(0, -1), dest: posix.resolve(r.workdir, dest), intoFolder: dest.endsWith('/') || paths.length > 2 });
        break;
      }
      case 'ENTRYPOINT':
        entrypoint = execForm(i);
        break;
      case 'CMD':
        cmd = execForm(i);
        break;
    }
  }
  r.command = [...entrypoint, ...cmd];
  return r;
}

const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const stages = parseDockerfile(dockerfile);
const runtime = runtimeOf(stages);

/** `--config FILE` in the image's command line. */
function configArg(command: string[]): string {
  const i = command.findIndex((a) => a === '--config' || a === '-c');
  if (i < 0) throw new Error(`the image's command line names no --config: ${JSON.stringify(command)}`);
  return command[i + 1];
}

describe('Dockerfile runtime stage', () => {
  it('runs node directly (PID 1 gets SIGTERM), as a non-root user, with a config file of the image', () => {
    // npm 11 exits on SIGTERM and leaves the broker running: never npm in the image.
    expect(runtime.command.slice(0, 2)).toEqual(['node', 'dist/main.js']);
    expect(runtime.user).toBeDefined();
    expect(['root', '0']).not.toContain(runtime.user);
    const config = configArg(runtime.command);
    expect(runtime.copies.some((c) => c.dest === posix.resolve(runtime.workdir, config))).toBe(true);
  });

  it('declares the persistence folder a VOLUME, created and handed to the user before the VOLUME line', () => {
    const config = validateConfig(parse(readFileSync(join(root, configArg(runtime.command).replace(`${runtime.workdir}/`, '')), 'utf8'), { version: '1.1' }));
    expect(config.persistence.backend).toBe('sqlite');
    const volume = runtime.volumes.find((v) => config.persistence.path.startsWith(`${v}/`));
    expect([config.persistence.path, volume]).toEqual([config.persistence.path, '/var/lib/nestmq']);
    // Docker discards changes made to a volume's folder after the VOLUME line: mkdir and chown come first.
    const created = runtime.runs.find((r) => r.args.includes(`mkdir -p ${volume}`) && r.args.includes(`chown ${runtime.user}:`));
    expect(created).toMatchObject({ afterVolume: false });
  });

  it("the image's config is config/broker.yaml's, except for the database path", () => {
    const read = (file: string) => validateConfig(parse(readFileSync(join(root, file), 'utf8'), { version: '1.1' }));
    const image = read(configArg(runtime.command).replace(`${runtime.workdir}/`, ''));
    const dev = read('config/broker.yaml');
    expect(dev.persistence.path).toBe('data/nestmq.db'); // `npm start` on a development machine
    expect({ ...image, persistence: { ...image.persistence, path: dev.persistence.path } }).toEqual(dev);
  });
});

describe("the image's command line, as a non-root user on a read-only copy of its files", () => {
  const runAsRoot = process.getuid?.() === 0;
  const uid = runAsRoot ? 65534 : process.getuid!();
  const gid = runAsRoot ? 65534 : process.getgid!();
  let base: string;
  let broker: ChildProcess | undefined;

  /** The image's absolute path inside the temporary root folder. */
  const host = (imagePath: string): string => join(base, imagePath);

  beforeAll(() => {
    if (!existsSync(join(root, 'dist', 'main.js'))) throw new Error('dist/ is missing: run `npx tsc -p tsconfig.build.json` first');
    base = mkdtempSync(join(tmpdir(), 'nestmq-image-'));
    chmodSync(base, 0o755);
    // COPY: the stage's files into WORKDIR. The build and deps stages' outputs are this checkout's
    // dist/ and node_modules (a symlink: the shared install).
    for (const c of runtime.copies) {
      for (const source of c.sources) {
        // --from=STAGE copies that stage's WORKDIR/x, which is this checkout's x.
        const rel = c.from === undefined ? source : posix.relative(runtime.workdir, source);
        const folder = statSync(join(root, rel)).isDirectory();
        // Docker: a folder's contents go into dest; a file goes to dest, or into it with a trailing `/`.
        const target = host(folder || !c.intoFolder ? c.dest : posix.join(c.dest, posix.basename(rel)));
        mkdirSync(dirname(target), { recursive: true });
        if (rel === 'node_modules') symlinkSync(join(root, 'node_modules'), target);
        else cpSync(join(root, rel), target, { recursive: true });
      }
    }
    // Paths the image knows as /app/... or /var/lib/nestmq/... are under `base` here.
    const rewrite = (text: string): string => [runtime.workdir, ...runtime.volumes].reduce((t, p) => t.split(p).join(host(p)), text);
    const configFile = host(configArg(runtime.command));
    writeFileSync(configFile, rewrite(readFileSync(configFile, 'utf8')));
    execFileSync('chmod', ['-R', 'a-w', host(runtime.workdir)]);
    // RUN mkdir -p VOLUME && chown USER: the volume, owned by the user that runs the broker.
    for (const v of runtime.volumes) {
      mkdirSync(host(v), { recursive: true });
      for (let d = host(v); d.startsWith(base) && d !== base; d = dirname(d)) chmodSync(d, 0o755);
      chownSync(host(v), uid, gid);
    }
  });

  afterAll(() => {
    broker?.kill('SIGKILL');
    if (base !== undefined) {
      execFileSync('chmod', ['-R', 'u+w', base]);
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('starts, accepts an MQTT connection, and writes its database in the volume', async () => {
    const [program, ...args] = runtime.command;
    const rewritten = args.map((a) => [runtime.workdir, ...runtime.volumes].reduce((t, p) => (t.startsWith(`${p}/`) ? host(p) + t.slice(p.length) : t), a));
    const config = parse(readFileSync(host(configArg(runtime.command)), 'utf8')) as { listeners: Record<string, unknown> };
    const ports: Record<string, string> = { NESTMQ_ADMIN__BIND: '127.0.0.1:0' };
    for (const name of Object.keys(config.listeners).filter((n) => n !== 'default')) {
      ports[`NESTMQ_LISTENERS__${name.toUpperCase().replace(/-/g, '_')}__BIND`] = '127.0.0.1:0';
    }
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent', ...runtime.env, ...ports };
    const node = program === 'node' ? process.execPath : program;
    const argv = runAsRoot ? ['--reuid=65534', '--regid=65534', '--clear-groups', '--', node, ...rewritten] : rewritten;
    broker = spawn(runAsRoot ? 'setpriv' : node, argv, { cwd: host(runtime.workdir), env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    broker.stderr!.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => broker!.once('exit', (code) => r(code)));
    const url = await new Promise<string>((resolve, reject) => {
      broker!.stdout!.on('data', (d) => {
        out += d;
        const bound = /listener \S+ bound to (mqtt:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (bound !== null && out.includes(' started"')) resolve(bound[1]);
      });
      void exited.then((code) => reject(new Error(`the broker exited with ${code}:\n${out}\n${err}`)));
    });

    const client = mqtt.connect(url, { reconnectPeriod: 0, protocolVersion: 4, clientId: 'image-check', clean: false });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    // QoS 1: the PUBACK comes only once the message is committed to the database.
    await client.publishAsync('image/check', 'persisted', { qos: 1, retain: true });
    await client.endAsync();

    const db = host(`${runtime.volumes[0]}/nestmq.db`);
    expect(existsSync(db)).toBe(true);
    expect(statSync(db)).toMatchObject({ uid, gid });
    expect(statSync(db).size).toBeGreaterThan(0);
    broker.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(err).toBe('');
  });
});
