#!/usr/bin/env node
/**
 * The service entry point (`npm start`, the `nestmq` bin): parses the command line, loads the
 * config once, boots the service (src/service.ts), and is the only place that touches process
 * signals (SIGHUP reloads users, ACLs and TLS certificates). SIGTERM, SIGINT and POST /api/v1/shutdown all run `stop()` below: readiness 503 at
 * once, broker shutdown (listeners stop accepting, clients closed, state flushed), application
 * closed, exit 0; a timer ends the process with status 1 if that takes longer than
 * `shutdown-grace-period` seconds.
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { ConfigError, loadConfigFile, validateWithEnv } from './core';
import { type NestmqService, startService } from './service';

const USAGE = `Usage: nestmq [--config FILE]
       nestmq passwd ...    manage a password file (nestmq passwd --help)

  -c, --config FILE   YAML configuration (hbmqtt format); default: a TCP listener on 0.0.0.0:1883
                      (also NESTMQ_CONFIG; any key can be overridden by NESTMQ_* variables)
  -h, --help          show this help
  -v, --version       print the version
`;

function version(): string {
  return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
}

async function main(argv: string[]): Promise<number> {
  // Subcommands first. `passwd` is provided by src/cli/passwd.ts (loaded only when used).
  if (argv[0] === 'passwd') {
    const { runPasswd } = await import('./cli/passwd');
    return runPasswd(argv.slice(1));
  }

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
  // Signal handlers first: a SIGTERM that arrives while the service starts is honoured once it has.
  let service: NestmqService | null = null;
  let pending: string | null = null;
  let stopping = false;
  let exit!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (exit = resolve));
  const logger = new Logger('nestmq');
  const grace = config.shutdownGracePeriod;
  const drainDelay = config.shutdownDrainDelay;
  const stop = (reason: string): void => {
    if (service === null) {
      pending ??= reason;
      return;
    }
    if (stopping) {
      if (reason === 'SIGINT') {
        logger.warn('SIGINT again: exiting without waiting');
        exit(1);
      }
      return;
    }
    stopping = true;
    logger.log(`${reason}: shutting down (${drainDelay > 0 ? `drain delay ${drainDelay} s, then ` : ''}grace period ${grace} s)`);
    // 0 = no limit: wait for the shutdown however long it takes. The grace period counts from the
    // end of shutdown-drain-delay (the listeners serve normally until then).
    const force =
      grace > 0
        ? setTimeout(() => {
            logger.error(`shutdown did not finish within ${drainDelay} + ${grace} s: exiting anyway`);
            exit(1);
          }, (drainDelay + grace) * 1000)
        : undefined;
    service.shutdown(reason).then(
      () => {
        clearTimeout(force);
        logger.log('shutdown complete');
        exit(0);
      },
      (err: unknown) => {
        clearTimeout(force);
        logger.error(`shutdown failed: ${(err as Error)?.message ?? String(err)}`);
        exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // SIGHUP: reload users, ACLs (the config file's inline ones too) and TLS certificates without
  // dropping anyone; a failed part keeps its previous state. service.reload() logs the outcome.
  process.on('SIGHUP', () => void service?.reload('SIGHUP'));

  service = await startService(config, { configFile: configPath, env: process.env });
  service.onShutdownRequest(stop);
  logger.log(`nestmq ${version()} started`);
  if (pending !== null) stop(pending);
  return exited;
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
