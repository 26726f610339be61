#!/usr/bin/env node
/**
 * The service entry point (`npm start`, the `nestmq` bin): parses the command line, loads the
 * config once, boots the Nest application around the Broker, and is the only place that touches
 * process signals.
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';
import { ConfigError, loadConfigFile, validateWithEnv } from './core';
import { ServiceLogger } from './modules/logging/service-logger';

const USAGE = `Usage: nestmq [--config FILE]

  -c, --config FILE   YAML configuration (hbmqtt format); default: a TCP listener on 0.0.0.0:1883
  -h, --help          show this help
  -v, --version       print the version
`;

function version(): string {
  return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
}

async function main(argv: string[]): Promise<number> {
  let configPath: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      return 0;
    }
    if (a === '-v' || a === '--version') {
      process.stdout.write(`${version()}\n`);
      return 0;
    }
    if ((a === '-c' || a === '--config') && i + 1 < argv.length) configPath = argv[++i];
    else if (a.startsWith('--config=')) configPath = a.slice('--config='.length);
    else {
      process.stderr.write(`nestmq: unknown or incomplete argument ${a}\n${USAGE}`);
      return 2;
    }
  }
  configPath ??= process.env.NESTMQ_CONFIG;
  const config = configPath !== undefined ? loadConfigFile(configPath, process.env) : validateWithEnv({}, process.env);
  const app = await NestFactory.createApplicationContext(AppModule.forRoot({ config }), {
    logger: new ServiceLogger('nestmq', { logLevels: ['log', 'warn', 'error'] }),
  });
  const logger = new Logger('nestmq');
  logger.log(`nestmq ${version()} started`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      logger.log(`${signal} received, shutting down`);
      app.close().then(resolve, resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    // A bad config or a port in use: one clear message, never a stack trace.
    const message = err instanceof ConfigError || err instanceof Error ? err.message : String(err);
    process.stderr.write(`nestmq: ${message}\n`);
    process.exit(1);
  },
);
