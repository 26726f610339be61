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
    // The whole message: after "line L, column C:" the yaml package shows the line and a caret.
    const lines = (err as Error).message.split('\n').filter((l) => l.trim() !== '');
    throw new ConfigError([`not valid YAML: ${lines.join('\n      ')}`], path);
  }
  return validateWithEnv(raw, env, path);
}

/** Validates a raw config after NESTMQ_* overrides; errors name the file and the variables used. */
export function validateWithEnv(raw: unknown, env: Record<string, string | undefined> | undefined, path?: string): BrokerConfig {
  if (env === undefined) return validateConfig(raw ?? {}, path, listenerSources(raw, [], path));
  const { config, applied } = applyEnvOverrides(raw, env);
  const source = applied.length === 0 ? path : `${path ?? 'the built-in defaults'} with ${applied.map((a) => a.split(' ')[0]).join(', ')}`;
  return validateConfig(config, source, listenerSources(raw, applied, path));
}

/**
 * Where each listener comes from: the file, the file plus variables, or variables alone (which is
 * how a mistyped NESTMQ_LISTENERS__X name silently adds a listener: the start-up log shows it).
 * `applied` holds applyEnvOverrides' "NAME -> key.path" lines.
 */
function listenerSources(raw: unknown, applied: readonly string[], path: string | undefined): Record<string, string> {
  const file = path === undefined ? 'configuration' : `file ${path}`;
  const inFile = (raw as { listeners?: unknown } | null)?.listeners;
  const fileNames = typeof inFile === 'object' && inFile !== null ? Object.keys(inFile) : [];
  const vars = new Map<string, string[]>();
  for (const a of applied) {
    const m = /^(\S+) -> listeners\.([^.]+)/.exec(a);
    if (m !== null) vars.set(m[2], [...(vars.get(m[2]) ?? []), m[1]]);
  }
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const name of new Set([...fileNames, ...vars.keys()])) {
    const v = vars.get(name);
    if (fileNames.includes(name)) out[name] = v === undefined ? file : `${file} + ${v.join(', ')}`;
    else out[name] = `environment ${v!.join(', ')} (no listener ${name} in ${path === undefined ? 'the configuration' : path})`;
  }
  // No listeners at all in the file: the built-in default listener, possibly changed by variables.
  if (fileNames.length === 0 && !vars.has('default') && vars.size === 0) return {};
  return out;
}
