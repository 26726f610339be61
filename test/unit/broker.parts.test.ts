/**
 * The parts a Broker can receive already built (what the Nest modules provide) instead of
 * building them itself: same chain, same warnings, and no part shared between two brokers.
 */
import { Broker, type BrokerConfigInput, type BrokerPlugin, ConfiguredPlugins, SubscriptionTrie, validateConfig } from '../../src/core';

// topic-check ACLs given while topic-check is disabled: a warning raised while the plugins are built.
const config: BrokerConfigInput = {
  listeners: { default: { type: 'tcp', bind: '127.0.0.1:0' } },
  auth: { plugins: ['auth.anonymous'], 'allow-anonymous': true },
  'topic-check': { enabled: false, acl: { alice: ['a/#'] } },
};
const disabledAclWarning = /topic-check\.enabled is false/;

async function warningsAtStart(broker: Broker): Promise<string[]> {
  const warnings: string[] = [];
  broker.on('warning', (err) => warnings.push(err.message));
  await broker.start();
  await broker.shutdown();
  return warnings;
}

describe('Broker parts', () => {
  it('without options, builds the configured plugins itself and emits their warnings once started', async () => {
    const warnings = await warningsAtStart(new Broker(config));
    expect(warnings.filter((w) => disabledAclWarning.test(w))).toHaveLength(1);
  });

  it('with configuredPlugins, emits the warnings raised while they were built, once started', async () => {
    const configured = new ConfiguredPlugins(validateConfig(config));
    const warnings = await warningsAtStart(new Broker(config, { configuredPlugins: configured }));
    expect(warnings.filter((w) => disabledAclWarning.test(w))).toHaveLength(1);
  });

  it('refuses configured plugins that already belong to another broker', () => {
    const configured = new ConfiguredPlugins(validateConfig(config));
    new Broker(config, { configuredPlugins: configured });
    expect(() => new Broker(config, { configuredPlugins: configured })).toThrow(/already belong to a broker/);
  });

  it('refuses configured plugins built for other extra plugins (auth.anonymous would judge usernames wrongly)', () => {
    const extra: BrokerPlugin = { name: 'tokens', authenticate: () => undefined };
    const configured = new ConfiguredPlugins(validateConfig(config));
    expect(() => new Broker(config, { configuredPlugins: configured, plugins: [extra] })).toThrow(/extraPlugins/);
    const matching = new ConfiguredPlugins(validateConfig(config), { extraPlugins: [extra] });
    expect(() => new Broker(config, { configuredPlugins: matching, plugins: [extra] })).not.toThrow();
  });

  it('refuses a subscription trie that already holds subscriptions', () => {
    const trie = new SubscriptionTrie<never>();
    trie.add('a/b', undefined as never, 0);
    expect(() => new Broker(config, { subscriptions: trie })).toThrow(/empty trie/);
  });
});
