import { parse } from 'yaml';

/**
 * Environment overrides, so a Kubernetes Secret or a Deployment can set any key:
 *
 *   NESTMQ_LISTENERS__DEFAULT__MAX_CONNECTIONS=100   -> listeners.default.max-connections: 100
 *   NESTMQ_AUTH__PASSWORD_FILE=/etc/nestmq/passwd    -> auth.password-file
 *   NESTMQ_SYS_INTERVAL=0                            -> sys_interval: 0
 *
 * `__` separates levels. Within a level, `_` stands for `-` or `_` and case is ignored: a segment
 * names the key already present in the file that matches it that way (so `MY_TCP` overrides a
 * listener written `my-tcp` or `my_tcp`); a key not in the file is created in kebab-case, except
 * for the known snake_case top-level keys (`sys_interval`). Values are read as YAML scalars
 * (`100` a number, `on` a boolean, `[a, b]` a list).
 */
export const ENV_PREFIX = 'NESTMQ_';
const SNAKE_KEYS = new Set(['sys_interval']);
/** Variables with the prefix that are not config keys. */
const RESERVED = new Set(['NESTMQ_CONFIG']);

const norm = (s: string): string => s.toLowerCase().replace(/-/g, '_');

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function applyEnvOverrides(raw: unknown, env: Record<string, string | undefined>): { config: unknown; applied: string[] } {
  const root: Record<string, unknown> = isObject(raw) ? structuredClone(raw) : {};
  const applied: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith(ENV_PREFIX) || RESERVED.has(name)) continue;
    const value = env[name];
    if (value === undefined) continue;
    const segments = name.slice(ENV_PREFIX.length).split('__').filter((s) => s.length > 0);
    if (segments.length === 0) continue;
    let node = root;
    const path: string[] = [];
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i];
      const existing = Object.keys(node).find((k) => norm(k) === norm(seg));
      const key = existing ?? (i === 0 && SNAKE_KEYS.has(seg.toLowerCase()) ? seg.toLowerCase() : seg.toLowerCase().replace(/_/g, '-'));
      path.push(key);
      if (i === segments.length - 1) {
        // Secrets stay the exact text given: a token of digits must not become a (rounded) number.
        setOwn(node, key, /token|password|secret/i.test(key) ? value : parseScalar(value));
      } else {
        // Own properties only: a segment such as `__proto__` or `constructor` is a (bad) key, never
        // a way into Object.prototype.
        if (!Object.hasOwn(node, key) || !isObject(node[key])) setOwn(node, key, {});
        node = node[key] as Record<string, unknown>;
      }
    }
    applied.push(`${name} -> ${path.join('.')}`);
  }
  return { config: root, applied };
}

/** Defines `key` as an own data property (an assignment to `__proto__` would change the prototype). */
function setOwn(node: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(node, key, { value, writable: true, enumerable: true, configurable: true });
}

function parseScalar(value: string): unknown {
  try {
    const v = parse(value, { version: '1.1' });
    return v === null ? value : v;
  } catch {
    return value;
  }
}
