import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { BrokerConfig } from './types';
import { ConfigError, validateConfig } from './validate';

/**
 * Reads a YAML config file and validates it; every failure is a ConfigError naming the file.
 * YAML 1.1 is used so that hbmqtt files written for PyYAML (`ssl: on`) read as they did there.
 */
export function loadConfigFile(path: string): BrokerConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`cannot read the file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`], path);
  }
  let raw: unknown;
  try {
    raw = parse(text, { version: '1.1' });
  } catch (err) {
    throw new ConfigError([`not valid YAML: ${(err as Error).message.split('\n')[0]}`], path);
  }
  return validateConfig(raw ?? {}, path);
}
