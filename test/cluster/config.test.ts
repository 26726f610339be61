/** The `cluster` configuration section (docs/cluster.md "Configuration"). */
import { hostname } from 'node:os';
import { ConfigError, validateConfig } from '../../src/core/config/validate';
import { validateWithEnv } from '../../src/core/config/loader';

describe('cluster config', () => {
  it('absent: a single node (cluster null)', () => {
    expect(validateConfig({}).cluster).toBeNull();
  });

  it('redis turns it on; node-id defaults to the hostname; tuning keys have documented defaults', () => {
    expect(validateConfig({ cluster: { redis: 'redis://redis:6379' } }).cluster).toEqual({
      redis: 'redis://redis:6379', nodeId: hostname(), prefix: 'nestmq', leaseMs: 15000, nodeTtlMs: 10000,
    });
  });

  it('environment overrides: NESTMQ_CLUSTER__REDIS alone creates the section, NESTMQ_CLUSTER__NODE_ID names the node', () => {
    const c = validateWithEnv({}, { NESTMQ_CLUSTER__REDIS: 'redis://10.0.0.5:6379', NESTMQ_CLUSTER__NODE_ID: 'nestmq-2', NESTMQ_CLUSTER__LEASE_MS: '6000' });
    expect(c.cluster).toMatchObject({ redis: 'redis://10.0.0.5:6379', nodeId: 'nestmq-2', leaseMs: 6000 });
  });

  it('refuses a bad section naming the key and the file', () => {
    const bad = (cluster: unknown): string => {
      try {
        validateConfig({ cluster } as never, 'config/broker.yaml');
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    expect(bad({ 'node-id': 'a' })).toMatch(/config\/broker\.yaml[\s\S]*cluster\.redis: expected a Redis URL/);
    expect(bad({ redis: 'http://x' })).toMatch(/cluster\.redis/);
    // A mistyped URL may carry its password: the message names the key, never the value.
    expect(bad({ redis: 'redis:/:s3cret-pw@redis:6379' })).not.toMatch(/s3cret-pw/);
    expect(bad({ redis: 'redis://x', 'node-id': 'a{b}' })).toMatch(/cluster\.node-id/);
    expect(bad({ redis: 'redis://x', 'lease-ms': 10 })).toMatch(/cluster\.lease-ms: expected an integer from 300/);
    expect(bad({ redis: 'redis://x', nodes: 3 })).toMatch(/cluster\.nodes: unknown key/);
  });

  it('clustered, sessions live in the cluster\'s Redis: backend sqlite is refused, memory and redis (no URL needed) accepted', () => {
    expect(() => validateConfig({ cluster: { redis: 'redis://x' }, persistence: { backend: 'sqlite' } })).toThrow(/persistence\.backend: sqlite cannot be used with cluster/);
    expect(validateConfig({ cluster: { redis: 'redis://x' }, persistence: { backend: 'memory' } }).cluster).not.toBeNull();
    expect(validateConfig({ cluster: { redis: 'redis://x' }, persistence: { backend: 'redis' } }).persistence.backend).toBe('redis');
  });
});
