import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import mqtt, { type MqttClient } from 'mqtt';
import {
  Broker,
  type BrokerConfigInput,
  ConfiguredPlugins,
  hashPassword,
  ListenerFactory,
  type RetainedStore,
  type SessionStore,
  SubscriptionTrie,
} from '../../../src/core';
import { BrokerModule } from '../../../src/modules/broker/broker.module';
import { BrokerConfigModule } from '../../../src/modules/config/broker-config.module';
import { BROKER_CONFIG, RETAINED_STORE, SESSION_STORE } from '../../../src/modules/tokens';
import { connackCode } from '../../e2e/auth.helpers';
import { CapturedLog, moduleContext } from './nest-context';

const dir = mkdtempSync(join(tmpdir(), 'nestmq-broker-module-'));

function connect(url: string, options: mqtt.IClientOptions): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, ...options });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

describe('BrokerModule', () => {
  let app: INestApplicationContext | undefined;
  let factoryCalls: jest.SpyInstance | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
    factoryCalls?.mockRestore();
  });

  it('provides a started Broker built from exactly the instances the other modules provide', async () => {
    // Arrange: a password file, an ACL configured but disabled (a warning raised while the
    // plugins are built, before the Broker exists).
    const passwords = join(dir, 'users');
    writeFileSync(passwords, `alice:${await hashPassword('old-pw', 4)}\n`);
    const config: BrokerConfigInput = {
      listeners: { default: { type: 'tcp', bind: '127.0.0.1:0' } },
      auth: { plugins: ['auth.file'], 'allow-anonymous': false, 'password-file': passwords },
      'topic-check': { enabled: false, acl: { alice: ['a/#'] } },
    };
    factoryCalls = jest.spyOn(ListenerFactory.prototype, 'create');
    const log = new CapturedLog();

    // Act
    app = await moduleContext(config, [BrokerModule], log);
    const broker = app.get(Broker);
    const url = `mqtt://127.0.0.1:${broker.port()}`;

    // Assert: started by the module's lifecycle; its listener made by the injected factory.
    expect(broker.state).toBe('started');
    expect(broker.config).toBe(app.get(BROKER_CONFIG));
    expect(factoryCalls).toHaveBeenCalledTimes(1);
    expect(factoryCalls.mock.contexts[0]).toBe(app.get(ListenerFactory));
    // The warning raised while AuthModule read the config was emitted once the broker started.
    expect(log.warnings.filter((w) => w.includes('topic-check.enabled is false'))).toHaveLength(1);

    // The injected session store, trie and retained store are the broker's.
    const client = await connect(url, { clientId: 'keeper', clean: false, username: 'alice', password: 'old-pw' });
    await client.subscribeAsync('a/b', { qos: 1 });
    await client.publishAsync('a/b', 'kept', { qos: 1, retain: true });
    expect(app.get<SessionStore>(SESSION_STORE).get('keeper')).toBeDefined();
    expect(app.get(SubscriptionTrie).size).toBe(1);
    expect(app.get<RetainedStore>(RETAINED_STORE).size).toBe(1);
    await client.endAsync();

    // The injected FileAuthPlugin is the one the broker asks: reloading it (and only it) lets the
    // new password in. A second construction inside the Broker would still refuse it.
    writeFileSync(passwords, `alice:${await hashPassword('new-pw', 4)}\n`);
    await app.get(ConfiguredPlugins).plugins[0].reload!();
    expect(await connackCode(url, { username: 'alice', password: 'new-pw' })).toBe(0);
    expect(await connackCode(url, { username: 'alice', password: 'old-pw' })).toBe(4);
  });

  it('shuts the broker down with the application', async () => {
    app = await moduleContext({ listeners: { default: { type: 'tcp', bind: '127.0.0.1:0' } } }, [BrokerModule]);
    const broker = app.get(Broker);
    await app.close();
    app = undefined;
    expect(broker.state).toBe('stopped');
  });
});

describe('BrokerConfigModule', () => {
  it('provides the validated config it was given, as it is (validated once)', async () => {
    const validated = BrokerConfigModule.forRoot({ config: { sys_interval: 0 } }).providers![0] as { useValue: unknown };
    const again = BrokerConfigModule.forRoot({ config: validated.useValue as never }).providers![0] as { useValue: unknown };
    expect(again.useValue).toBe(validated.useValue);
  });

  it('refuses an invalid config when the module is declared', () => {
    expect(() => BrokerConfigModule.forRoot({ config: { persistence: { backend: 'mongodb' } } })).toThrow(/persistence.backend/);
  });
});
