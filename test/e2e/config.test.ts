/**
 * Configuration files end to end: hbmqtt's and amqtt's documented example files load unchanged
 * into the expected typed config; NESTMQ_* environment overrides; bad configurations are refused
 * with messages naming the file, the key path and what was expected; start-time failures (an
 * unreadable certificate, a port in use) name the listener key.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { applyEnvOverrides, Broker, ConfigError, DEFAULT_LIMITS, loadConfigFile } from '../../src';

const fixtures = join(__dirname, '..', 'fixtures');
const HBMQTT_EXAMPLE = join(fixtures, 'hbmqtt-example.yaml');
const AMQTT_EXAMPLE = join(fixtures, 'amqtt-example.yaml');
/** hbmqtt's own sample, scripts/default_broker.yaml (auth_file without a password file). */
const HBMQTT_DEFAULT_BROKER = join(fixtures, 'hbmqtt-default-broker.yaml');

/** hbmqtt's documented example, as published (duplicate `capath` and `true / false` included). */
const HBMQTT_DOC = `listeners:
    default:
        max-connections: 50000
        type: tcp
    my-tcp-1:
        bind: 127.0.0.1:1883
    my-tcp-2:
        bind: 1.2.3.4:1884
        max-connections: 1000
    my-tcp-ssl-1:
        bind: 127.0.0.1:8885
        ssl: on
        cafile: /some/cafile
        capath: /some/folder
        capath: certificate data
        certfile: /some/certfile
        keyfile: /some/key
    my-ws-1:
        bind: 0.0.0.0:8080
        type: ws
timeout-disconnect-delay: 2
auth:
    plugins: ['auth.anonymous'] #List of plugins to activate for authentication among all registered plugins
    allow-anonymous: true / false
    password-file: /some/passwd_file
`;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'nestmq-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileSeq = 0;
function yamlFile(text: string): string {
  const file = join(dir, `config-${++fileSeq}.yaml`);
  writeFileSync(file, text);
  return file;
}

/** The ConfigError thrown by `f` (fails the test when nothing is thrown). */
function configError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe("hbmqtt's documented example file", () => {
  it('is the documented text, byte for byte (the fixture is never "fixed")', () => {
    expect(readFileSync(HBMQTT_EXAMPLE, 'utf8')).toBe(HBMQTT_DOC);
  });

  it('loads into the expected typed config: default merged into every named listener, ssl on, the last capath, hbmqtt truthiness with a warning', () => {
    const config = loadConfigFile(HBMQTT_EXAMPLE);
    const common = { requireCertificate: false, useIdentityAsUsername: false, cafile: undefined, capath: undefined, cadata: undefined, certfile: undefined, keyfile: undefined };
    // The unbound `default` is not a listener of its own (hbmqtt: "not bound"); its keys are in every other one.
    expect(config.listeners).toEqual([
      { ...common, name: 'my-tcp-1', type: 'tcp', host: '127.0.0.1', port: 1883, maxConnections: 50000, ssl: false },
      { ...common, name: 'my-tcp-2', type: 'tcp', host: '1.2.3.4', port: 1884, maxConnections: 1000, ssl: false },
      {
        ...common, name: 'my-tcp-ssl-1', type: 'tcp', host: '127.0.0.1', port: 8885, maxConnections: 50000, ssl: true,
        cafile: '/some/cafile', capath: 'certificate data', certfile: '/some/certfile', keyfile: '/some/key',
      },
      { ...common, name: 'my-ws-1', type: 'ws', host: '0.0.0.0', port: 8080, maxConnections: 50000, ssl: false },
    ]);
    expect(config.timeoutDisconnectDelay).toBe(2);
    expect(config.auth).toEqual({ plugins: ['auth.anonymous'], allowAnonymous: true, passwordFile: '/some/passwd_file', cacheSize: 10000 });
    expect(config.limits).toEqual(DEFAULT_LIMITS);
    expect(config.warnings.filter((w) => w.includes('allow-anonymous'))).toEqual([
      expect.stringMatching(/^auth\.allow-anonymous: "true \/ false" is hbmqtt's documentation placeholder.*read as true/),
    ]);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('a repeated key keeps its last value, as PyYAML does; other YAML errors still name the file', () => {
    const dup = loadConfigFile(yamlFile('listeners:\n  a:\n    bind: 127.0.0.1:1000\n    bind: 127.0.0.1:2000\nsys_interval: 5\nsys_interval: 0\n'));
    expect(dup.listeners.map((l) => l.port)).toEqual([2000]);
    expect(dup.sysInterval).toBe(0);
    const file = yamlFile('listeners:\n  a:\n    bind: [unclosed\n');
    const err = configError(() => loadConfigFile(file));
    expect(err.message).toContain(`invalid configuration in ${file}`);
    expect(err.problems).toEqual([expect.stringMatching(/^not valid YAML: /)]);
  });

  it('YAML 1.1 booleans: on/off, yes/no are booleans (as PyYAML reads them), and so are the strings', () => {
    const c = loadConfigFile(
      yamlFile(
        "listeners:\n  a: {bind: ':1', ssl: yes, certfile: c, keyfile: k}\n  b: {bind: ':2', ssl: 'on', certfile: c, keyfile: k}\n" +
          "  c: {bind: ':3', ssl: no}\n  d: {bind: ':4', ssl: Off}\nlimits:\n  queue-qos0-messages: on\n",
      ),
    );
    expect(c.listeners.map((l) => [l.name, l.ssl])).toEqual([['a', true], ['b', true], ['c', false], ['d', false]]);
    expect(c.limits.queueQos0Messages).toBe(true);
  });
});

describe('boolean keys: a typo is refused, only hbmqtt\'s documented placeholder is read as true', () => {
  it('allow-anonymous: flase (and any other non-boolean, at every boolean key) is refused naming the key and the file', () => {
    const file = yamlFile(
      [
        'listeners:',
        '  a: {bind: "127.0.0.1:0", ssl: ture, require-certificate: nope, use-identity-as-username: "1"}',
        'auth:',
        '  allow-anonymous: flase',
        'topic-check:',
        '  enabled: enabeld',
        'admin:',
        '  enabled: maybe',
        'limits:',
        '  queue-qos0-messages: sure',
        '',
      ].join('\n'),
    );
    const err = configError(() => loadConfigFile(file));
    expect(err.message.split('\n')[0]).toBe(`invalid configuration in ${file}:`);
    expect(err.problems).toEqual(
      expect.arrayContaining([
        'auth.allow-anonymous: expected true/false, on/off or yes/no, got "flase"',
        'listeners.a.ssl: expected true/false, on/off or yes/no, got "ture"',
        'listeners.a.require-certificate: expected true/false, on/off or yes/no, got "nope"',
        'listeners.a.use-identity-as-username: expected true/false, on/off or yes/no, got "1"',
        'topic-check.enabled: expected true/false, on/off or yes/no, got "enabeld"',
        'admin.enabled: expected true/false, on/off or yes/no, got "maybe"',
        'limits.queue-qos0-messages: expected true/false, on/off or yes/no, got "sure"',
      ]),
    );
    // Numbers are no booleans either (hbmqtt would read 1 as true).
    expect(configError(() => new Broker({ auth: { 'allow-anonymous': 1 as unknown as boolean } })).problems).toEqual([
      'auth.allow-anonymous: expected true/false, on/off or yes/no, got 1',
    ]);
  });

  it('`true / false` (hbmqtt\'s placeholder, spacing and case aside) is read as true with a warning', () => {
    for (const v of ['true / false', 'True/False', ' true /false ']) {
      const c = new Broker({ listeners: { a: { bind: '127.0.0.1:0' } }, auth: { 'allow-anonymous': v as unknown as boolean } }).config;
      expect(c.auth.allowAnonymous).toBe(true);
      expect(c.warnings).toEqual([expect.stringMatching(/^auth\.allow-anonymous: .*placeholder.*read as true/)]);
    }
    expect(configError(() => new Broker({ auth: { 'allow-anonymous': 'false / true' as unknown as boolean } })).problems).toHaveLength(1);
  });
});

describe("hbmqtt's own sample, scripts/default_broker.yaml (auth_file without a password file)", () => {
  it('loads unchanged: the file plugin warns and knows no users', () => {
    const config = loadConfigFile(HBMQTT_DEFAULT_BROKER);
    expect(config.listeners.map((l) => [l.name, l.type, `${l.host}:${l.port}`])).toEqual([['default', 'tcp', '0.0.0.0:1883']]);
    expect(config.sysInterval).toBe(20);
    expect(config.auth).toEqual({ plugins: ['auth.file', 'auth.anonymous'], allowAnonymous: true, passwordFile: undefined, cacheSize: 10000 });
    expect(config.topicCheck.enabled).toBe(false);
    expect(config.warnings).toEqual([expect.stringMatching(/^auth\.password-file: not set, so the auth\.file plugin knows no users/)]);
  });

  it('runs: an anonymous client connects, a client with a username is refused (no user is known)', async () => {
    const broker = new Broker(loadConfigFile(HBMQTT_DEFAULT_BROKER, { NESTMQ_LISTENERS__DEFAULT__BIND: '127.0.0.1:0', NESTMQ_SYS_INTERVAL: '0' }));
    await broker.start();
    const url = `mqtt://127.0.0.1:${broker.port()}`;
    const connack = (opts: mqtt.IClientOptions): Promise<number> =>
      new Promise((resolve) => {
        const c = mqtt.connect(url, { ...opts, reconnectPeriod: 0 });
        c.on('connect', () => {
          c.end(true);
          resolve(0);
        });
        c.on('error', (err: Error & { code?: number }) => {
          c.end(true);
          resolve(err.code ?? -1);
        });
      });
    try {
      expect(await connack({ clientId: 'anon' })).toBe(0);
      expect([4, 5]).toContain(await connack({ clientId: 'named', username: 'bob', password: 'x' }));
    } finally {
      await broker.shutdown();
    }
  });
});

describe("amqtt's documented example file (top-level plugins by class name, with settings)", () => {
  it('loads: five listeners including wss, the anonymous and file plugins with their settings, the ACL plugin with its table', () => {
    const config = loadConfigFile(AMQTT_EXAMPLE);
    expect(config.listeners.map((l) => [l.name, l.type, l.ssl, `${l.host}:${l.port}`, l.maxConnections])).toEqual([
      ['my-tcp-1', 'tcp', false, '127.0.0.1:1883', 500],
      ['my-tcp-2', 'tcp', false, '1.2.3.4:1884', 1000],
      ['my-tcp-ssl-1', 'tcp', true, '127.0.0.1:8885', 500],
      ['my-ws-1', 'ws', false, '0.0.0.0:8080', 500],
      ['my-wss-1', 'ws', true, '0.0.0.0:9003', 500],
    ]);
    expect(config.listeners[2].capath).toBe('certificate data');
    expect(config.auth).toEqual({ plugins: ['auth.anonymous', 'auth.file'], allowAnonymous: true, passwordFile: '/some/password-file', cacheSize: 10000 });
    expect(config.topicCheck).toMatchObject({
      enabled: true,
      plugins: ['topic_acl'],
      acl: {
        username1: ['repositories/+/master', 'calendar/#', 'data/memes'],
        username2: ['calendar/2025/#', 'data/memes'],
        anonymous: ['calendar/2025/#'],
      },
    });
    expect(config.timeoutDisconnectDelay).toBe(2);
  });
});

describe('NESTMQ_* environment overrides', () => {
  it('applyEnvOverrides: `__` separates levels, `_` matches `-` or `_` of an existing key, new keys are kebab-case, values are YAML scalars; the input is not modified', () => {
    const raw = {
      listeners: { 'my-tcp-2': { bind: '1.2.3.4:1884', 'max-connections': 1000 } },
      auth: { 'allow-anonymous': true },
      sys_interval: 10,
    };
    const before = structuredClone(raw);
    const { config, applied } = applyEnvOverrides(raw, {
      NESTMQ_LISTENERS__MY_TCP_2__MAX_CONNECTIONS: '5',
      NESTMQ_AUTH__ALLOW_ANONYMOUS: 'off',
      NESTMQ_AUTH__PLUGINS: '[auth.anonymous, auth.file]',
      NESTMQ_SYS_INTERVAL: '0',
      NESTMQ_LIMITS__MAX_PACKET_SIZE: '2048',
      NESTMQ_CONFIG: '/ignored/because/reserved.yaml',
      OTHER_VARIABLE: 'ignored',
      NESTMQ_UNSET: undefined,
    });
    expect(config).toEqual({
      listeners: { 'my-tcp-2': { bind: '1.2.3.4:1884', 'max-connections': 5 } },
      auth: { 'allow-anonymous': false, plugins: ['auth.anonymous', 'auth.file'] },
      sys_interval: 0,
      limits: { 'max-packet-size': 2048 },
    });
    expect(applied).toEqual([
      'NESTMQ_AUTH__ALLOW_ANONYMOUS -> auth.allow-anonymous',
      'NESTMQ_AUTH__PLUGINS -> auth.plugins',
      'NESTMQ_LIMITS__MAX_PACKET_SIZE -> limits.max-packet-size',
      'NESTMQ_LISTENERS__MY_TCP_2__MAX_CONNECTIONS -> listeners.my-tcp-2.max-connections',
      'NESTMQ_SYS_INTERVAL -> sys_interval',
    ]);
    expect(raw).toEqual(before);
  });

  it('loadConfigFile(path, env) applies them to the hbmqtt example and validates the result', () => {
    const config = loadConfigFile(HBMQTT_EXAMPLE, {
      NESTMQ_LISTENERS__MY_TCP_SSL_1__SSL: 'off',
      NESTMQ_LISTENERS__DEFAULT__MAX_CONNECTIONS: '7',
      NESTMQ_LISTENERS__MY_WS_1__BIND: '127.0.0.1:0',
      NESTMQ_AUTH__ALLOW_ANONYMOUS: 'no',
      NESTMQ_LIMITS__MAX_INFLIGHT_MESSAGES: '3',
    });
    const byName = Object.fromEntries(config.listeners.map((l) => [l.name, l]));
    expect(byName['my-tcp-ssl-1'].ssl).toBe(false);
    // The override of `default` reaches every listener that does not set its own.
    expect(config.listeners.map((l) => l.maxConnections)).toEqual([7, 1000, 7, 7]);
    expect([byName['my-ws-1'].host, byName['my-ws-1'].port]).toEqual(['127.0.0.1', 0]);
    expect(config.auth.allowAnonymous).toBe(false);
    expect(config.warnings.some((w) => w.includes('allow-anonymous'))).toBe(false);
    expect(config.limits.maxInflightMessages).toBe(3);
    // Without env, the same file is untouched by the process environment.
    expect(loadConfigFile(HBMQTT_EXAMPLE).limits.maxInflightMessages).toBe(DEFAULT_LIMITS.maxInflightMessages);
  });

  it('a bad value from the environment is reported with the file, the variable and the key path', () => {
    const err = configError(() => loadConfigFile(HBMQTT_EXAMPLE, { NESTMQ_LIMITS__MAX_PACKET_SIZE: 'big', NESTMQ_LISTENERS__MY_TCP_1__TYPE: 'udp' }));
    expect(err.message).toContain(`invalid configuration in ${HBMQTT_EXAMPLE} with NESTMQ_LIMITS__MAX_PACKET_SIZE, NESTMQ_LISTENERS__MY_TCP_1__TYPE`);
    expect(err.problems).toEqual(
      expect.arrayContaining(['limits.max-packet-size: expected an integer from 1 to 268435455, got "big"', 'listeners.my-tcp-1.type: expected tcp or ws, got "udp"']),
    );
  });
});

describe('bad configurations: one message naming the file, every bad key path and the expectation', () => {
  it('unknown keys at every level, all reported at once', () => {
    const file = yamlFile(
      'listeners:\n  a:\n    bind: 127.0.0.1:0\n    sll: on\nlimit:\n  max-packet-size: 10\nlimits:\n  max-packet-sise: 10\nauth:\n  allow-anonymus: true\n',
    );
    const err = configError(() => loadConfigFile(file));
    expect(err.source).toBe(file);
    expect(err.message.split('\n')[0]).toBe(`invalid configuration in ${file}:`);
    expect(err.problems.sort()).toEqual(
      ['auth.allow-anonymus: unknown key', 'limit: unknown key', 'limits.max-packet-sise: unknown key', 'listeners.a.sll: unknown key'].sort(),
    );
  });

  it('wrong types and values name the key path and what was expected', () => {
    const file = yamlFile(
      'listeners:\n  a:\n    bind: nowhere\n    type: udp\n    max-connections: many\n    ssl: maybe-not\n' +
        'limits:\n  max-packet-size: -1\n  connect-timeout: soon\n  queue-qos0-messages: sometimes\ntimeout-disconnect-delay: [1]\n',
    );
    const err = configError(() => loadConfigFile(file));
    expect(err.problems).toEqual(
      expect.arrayContaining([
        'listeners.a.bind: expected host:port, :port or [ipv6]:port, got "nowhere"',
        'listeners.a.type: expected tcp or ws, got "udp"',
        'listeners.a.max-connections: expected an integer from 0 to 1000000, got "many"',
        'limits.max-packet-size: expected an integer from 1 to 268435455, got -1',
        'limits.connect-timeout: expected a number from 0 to 3600, got "soon"',
        'limits.queue-qos0-messages: expected true/false, on/off or yes/no, got "sometimes"',
        'timeout-disconnect-delay: expected a number from 0 to 2147483, got [1]',
      ]),
    );
    for (const p of err.problems) expect(err.message).toContain(p);
  });

  it('limits are integers within their bounds: 70000 in-flight, 1.5, 0 and 2^31 ms timers are refused, naming the key and the file', () => {
    const file = yamlFile(
      'limits:\n  max-inflight-messages: 70000\n  max-queued-messages: 1.5\n  max-topic-length: 65536\n' +
        '  max-connect-packet-size: 0\n  max-connections-per-address: -1\n  session-expiry: 0.5\n' +
        'listeners:\n  a:\n    bind: 127.0.0.1:0\n    max-connections: 2.5\nshutdown-grace-period: 3000000\nauth:\n  cache-size: 1.5\n',
    );
    const err = configError(() => loadConfigFile(file));
    expect(err.message.split('\n')[0]).toBe(`invalid configuration in ${file}:`);
    expect(err.problems.sort()).toEqual(
      [
        'limits.max-inflight-messages: expected an integer from 1 to 65535, got 70000',
        'limits.max-queued-messages: expected an integer from 1 to 100000000, got 1.5',
        'limits.max-topic-length: expected an integer from 1 to 65535, got 65536',
        'limits.max-connect-packet-size: expected an integer from 1 to 268435455, got 0',
        'limits.max-connections-per-address: expected an integer from 0 to 1000000, got -1',
        'limits.session-expiry: expected an integer from 0 to 3153600000, got 0.5',
        'listeners.a.max-connections: expected an integer from 0 to 1000000, got 2.5',
        'shutdown-grace-period: expected a number from 0 to 2147483, got 3000000',
        'auth.cache-size: expected an integer from 0 to 10000000, got 1.5',
      ].sort(),
    );
    // The largest in-flight window the packet ids allow is accepted.
    expect(loadConfigFile(yamlFile('limits:\n  max-inflight-messages: 65535\n')).limits.maxInflightMessages).toBe(65535);
  });

  it('inherited names (constructor, toString, __proto__) are unknown keys, not configuration', () => {
    const file = yamlFile(
      'limits:\n  constructor: 5\n  toString: 1\n  hasOwnProperty: 2\nauth:\n  plugins: [constructor, toString]\n' +
        'topic-check:\n  plugins: [valueOf]\n',
    );
    const err = configError(() => loadConfigFile(file));
    expect(err.problems.sort()).toEqual(
      [
        'limits.constructor: unknown key',
        'limits.toString: unknown key',
        'limits.hasOwnProperty: unknown key',
        'auth.plugins[0]: unknown plugin "constructor" (known: auth.anonymous, auth.file, auth.scram, topic_taboo, topic_acl)',
        'auth.plugins[1]: unknown plugin "toString" (known: auth.anonymous, auth.file, auth.scram, topic_taboo, topic_acl)',
        'topic-check.plugins[0]: unknown topic plugin "valueOf" (known: topic_taboo, topic_acl)',
      ].sort(),
    );
    // Nor can an environment variable reach Object.prototype: it names an unknown key.
    const env = applyEnvOverrides({}, { NESTMQ_CONSTRUCTOR__PROTOTYPE__POLLUTED: 'yes' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(configError(() => new Broker(env.config as Record<string, unknown>)).problems).toEqual(['constructor: unknown key']);
  });

  it('a missing file is a ConfigError naming it', () => {
    const missing = join(dir, 'does-not-exist.yaml');
    const err = configError(() => loadConfigFile(missing));
    expect(err.message).toBe(`invalid configuration in ${missing}:\n  - cannot read the file: ENOENT`);
  });

  it('an unreadable certificate file fails start(), naming the listener key and the file; nothing stays bound', async () => {
    const b = new Broker({
      listeners: {
        plain: { bind: '127.0.0.1:0' },
        secure: { bind: '127.0.0.1:0', ssl: 'on', certfile: join(dir, 'missing-cert.pem'), keyfile: join(dir, 'missing-key.pem') },
      },
    });
    await expect(b.start()).rejects.toThrow(`listeners.secure.certfile: cannot read ${join(dir, 'missing-cert.pem')}`);
    expect(b.state).toBe('stopped');
    expect(b.addresses).toEqual({});
    await b.shutdown();
  });

  it('ssl on without certfile/keyfile is refused with the config, naming the listener', () => {
    expect(() => new Broker({ listeners: { secure: { bind: '127.0.0.1:0', ssl: 'yes' } } })).toThrow('listeners.secure.ssl: on needs certfile and keyfile');
  });

  it('a port in use fails start(), naming the listener bind key, the address and EADDRINUSE; the other listeners are closed again', async () => {
    const first = new Broker({ listeners: { taken: { bind: '127.0.0.1:0' } } });
    await first.start();
    const port = first.port('taken');
    const second = new Broker({ listeners: { ok: { bind: '127.0.0.1:0' }, clash: { bind: `127.0.0.1:${port}` } } });
    try {
      await expect(second.start()).rejects.toThrow(`listeners.clash.bind: cannot listen on 127.0.0.1:${port}: EADDRINUSE`);
      expect(second.state).toBe('stopped');
      // The listener that did bind was closed again: its port refuses connections.
      const okPort = second.addresses.ok?.port;
      if (okPort !== undefined) {
        await expect(
          new Promise<void>((resolve, reject) => {
            const s = net.connect(okPort, '127.0.0.1', () => {
              s.destroy();
              resolve();
            });
            s.on('error', reject);
          }),
        ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      }
      // The first broker is unharmed: it still accepts connections.
      await new Promise<void>((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve();
        });
        s.on('error', reject);
      });
    } finally {
      await second.shutdown();
      await first.shutdown();
    }
  });
});
