#!/usr/bin/env node
/**
 * The service entry point (`npm start`, the `nestmq` bin): loads the config once, starts the
 * Broker, and is the only place that touches process signals.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Broker, ConfigError, loadConfigFile, validateConfig } from './core';

const USAGE = `Usage: nestmq [--config FILE]

  -c, --config FILE   YAML configuration (hbmqtt format); defaults to a TCP listener on 0.0.0.0:1883
  -h, --help          show this help
  -v, --version       print the version
`;

async function main(argv: string[]): Promise<number> {
  let configPath: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      return 0;
    }
    if (a === '-v' || a === '--version') {
      const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
      process.stdout.write(`${pkg.version}\n`);
      return 0;
    }
    if (a === '-c' || a === '--config') configPath = argv[++i];
    else if (a.startsWith('--config=')) configPath = a.slice('--config='.length);
    else {
      process.stderr.write(`nestmq: unknown argument ${a}\n${USAGE}`);
      return 2;
    }
  }
  const config = configPath ? loadConfigFile(configPath) : validateConfig(undefined);
  const broker = new Broker(config);
  broker.on('warning', (err) => process.stderr.write(`nestmq: warning: ${err.message}\n`));
  await broker.start();
  for (const [name, a] of Object.entries(broker.addresses)) {
    const l = config.listeners.find((x) => x.name === name)!;
    const scheme = l.type === 'ws' ? (l.ssl ? 'wss' : 'ws') : l.ssl ? 'mqtts' : 'mqtt';
    process.stdout.write(`nestmq: listener ${name} bound to ${scheme}://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}${l.type === 'ws' ? '/mqtt' : ''}\n`);
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      process.stdout.write(`nestmq: ${signal} received, shutting down\n`);
      broker.shutdown().then(resolve, resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`nestmq: ${err instanceof ConfigError || err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
