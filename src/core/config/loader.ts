import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { BrokerConfig } from './types';
import { applyEnvOverrides } from './env';
import { ConfigError, validateConfig } from './validate';

/**
 * Reads a YAML config file, applies NESTMQ_* environment overrides when `env` is given, and
 * validates the result; every failure is a ConfigError naming the file.
 * YAML 1.1 is used so that hbmqtt files written for PyYAML (`ssl: on`) read as they did there;
 * a repeated key keeps its last value, as in PyYAML.
 */
export function loadConfigFile(path: string, env?: Record<string, string | undefined>): BrokerConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`cannot read the file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`], path);
  }
  let raw: unknown;
  try {
    // hbmqtt's and amqtt's documented examples repeat a key (`capath:` twice); PyYAML keeps the
    // last value, and so do we (the yaml package refuses duplicates unless told otherwise).
    raw = parse(text, { version: '1.1', uniqueKeys: false });
  } catch (err) {
    throw new ConfigError([`not valid YAML: ${(err as Error).message.split('\n')[0]}`], path);
  }
  return validateWithEnv(raw, env, path);
}

/** Validates a raw config after NESTMQ_* overrides; errors name the file and the variables used. */
export function validateWithEnv(raw: unknown, env: Record<string, string | undefined> | undefined, path?: string): BrokerConfig {
  if (env === undefined) return validateConfig(raw ?? {}, path);
  const { config, applied } = applyEnvOverrides(raw, env);
  const source = applied.length === 0 ? path : `${path ?? 'the built-in defaults'} with ${applied.map((a) => a.split(' ')[0]).join(', ')}`;
  return validateConfig(config, source);
}
