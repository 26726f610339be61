import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { AclFilePlugin, ConfiguredPlugins, FileAuthPlugin, hashPassword, type AuthenticateRequest, type BrokerConfigInput } from '../../../src/core';
import { AuthModule } from '../../../src/modules/auth/auth.module';
import { moduleContext } from './nest-context';

const dir = mkdtempSync(join(tmpdir(), 'nestmq-auth-module-'));
const login = (username: string, password: string): AuthenticateRequest => ({
  clientId: 'c1',
  username,
  password: Buffer.from(password),
  remoteAddress: '127.0.0.1:5000',
  listener: 'default',
});
const accepted = (r: unknown): boolean => r === true || (typeof r === 'object' && r !== null && (r as { ok?: boolean }).ok === true);

describe('AuthModule', () => {
  let app: INestApplicationContext | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('provides the plugins auth.file names, built from its password file', async () => {
    // Arrange
    const passwords = join(dir, 'users');
    writeFileSync(passwords, `alice:${await hashPassword('alice-pw', 4)}\n`);
    const config: BrokerConfigInput = { auth: { plugins: ['auth.file'], 'allow-anonymous': false, 'password-file': passwords } };

    // Act
    app = await moduleContext(config, [AuthModule]);
    const configured = app.get(ConfiguredPlugins);

    // Assert
    expect(configured.plugins).toHaveLength(1);
    const plugin = configured.plugins[0] as FileAuthPlugin;
    expect(plugin).toBeInstanceOf(FileAuthPlugin);
    expect(accepted(await plugin.authenticate(login('alice', 'alice-pw')))).toBe(true);
    expect(accepted(await plugin.authenticate(login('alice', 'wrong')))).toBe(false);
  });

  it('provides topic-check plugins after the auth ones, in the chain order of the config', async () => {
    const acl = join(dir, 'acl');
    writeFileSync(acl, 'user alice\ntopic readwrite a/#\n');
    app = await moduleContext(
      { auth: { plugins: ['auth.anonymous'], 'allow-anonymous': true }, 'topic-check': { enabled: true, plugins: ['topic_taboo'], 'acl-file': acl } },
      [AuthModule],
    );
    const names = app.get(ConfiguredPlugins).plugins.map((p) => p.name);
    expect(names).toEqual(['auth.anonymous', 'topic_taboo', 'acl-file']);
    expect(app.get(ConfiguredPlugins).plugins[2]).toBeInstanceOf(AclFilePlugin);
  });

  it('fails the application when the password file is missing, like a bad config', async () => {
    await expect(
      moduleContext({ auth: { plugins: ['auth.file'], 'password-file': join(dir, 'missing') } }, [AuthModule]),
    ).rejects.toThrow(/missing/);
  });
});
