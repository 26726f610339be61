/**
 * What a reload does to a running broker (SIGHUP, POST /api/v1/reload, a watched file changing):
 * each part re-reads its files and takes the new content only when it is valid and different, so
 * nobody is dropped and a failed part keeps its previous state while the others reload.
 *
 *   users          auth.file's password file
 *   acl            the config file's inline topic-check.acl / publish-acl (hbmqtt's only ACL form)
 *   acl-file       topic-check.acl-file
 *   tls:NAME       listener NAME's certfile, keyfile and CAs (TLS and WSS): new handshakes only
 *   plugin:NAME    an embedder's plugin with a reload() (it cannot tell "unchanged")
 *   config         the config file itself, when it could not be read or validated
 */
import { AclFilePlugin } from '../auth/acl-file';
import { FileAuthPlugin } from '../auth/auth-plugins';
import { TopicAclPlugin } from '../auth/topic-plugins';
import type { BrokerConfig } from '../config/types';
import type { BrokerPlugin } from '../hooks/plugin';
import type { Listener } from '../listeners/listener';

export interface ReloadFailure {
  part: string;
  error: string;
}

/** The outcome of one reload, by part name (see the list above). */
export interface ReloadReport {
  reloaded: string[];
  unchanged: string[];
  failed: ReloadFailure[];
}

/** One line for the log: `reloaded users, tls:mqtts; unchanged acl; failed none`. */
export function describeReload(report: ReloadReport): string {
  const list = (parts: string[]): string => (parts.length > 0 ? parts.join(', ') : 'none');
  const failed = report.failed.map((f) => `${f.part} (${f.error})`);
  return `reloaded ${list(report.reloaded)}; unchanged ${list(report.unchanged)}; failed ${list(failed)}`;
}

/**
 * Reloads every part. `next` is the config file read again (inline ACLs come from it), an Error
 * when it could not be read or validated, or undefined when there is no file (embedded broker).
 * Never rejects: every failure is in the report.
 */
export async function reloadParts(
  plugins: readonly BrokerPlugin[],
  listeners: readonly Listener[],
  next: BrokerConfig | Error | undefined,
): Promise<ReloadReport> {
  const report: ReloadReport = { reloaded: [], unchanged: [], failed: [] };
  const record = async (part: string, run: () => boolean | Promise<boolean>): Promise<void> => {
    try {
      if (await run()) report.reloaded.push(part);
      else report.unchanged.push(part);
    } catch (err) {
      report.failed.push({ part, error: (err as Error)?.message ?? String(err) });
    }
  };
  if (next instanceof Error) report.failed.push({ part: 'config', error: next.message });
  const files = plugins.filter((p): p is FileAuthPlugin => p instanceof FileAuthPlugin && p.passwordFile !== undefined);
  for (const p of files) await record(files.length === 1 ? 'users' : `users:${p.passwordFile}`, () => p.reloadIfChanged());
  const topicAcl = plugins.find((p): p is TopicAclPlugin => p instanceof TopicAclPlugin);
  if (next !== undefined && !(next instanceof Error)) {
    const tc = next.topicCheck;
    const hasMaps = tc.acl !== undefined || tc.publishAcl !== undefined;
    if (topicAcl !== undefined) {
      await record('acl', () => {
        if (!tc.enabled) throw new Error('topic-check.enabled is now false: restart the broker to turn the ACL off');
        // As at start (auth/index.ts): topic_acl without tables refuses every subscription.
        return topicAcl.replaceRules(hasMaps ? tc.acl : {}, tc.publishAcl);
      });
    } else if (tc.enabled && hasMaps) {
      report.failed.push({ part: 'acl', error: 'topic-check.acl was not configured at start: restart the broker to apply it' });
    }
  }
  for (const p of plugins) if (p instanceof AclFilePlugin) await record('acl-file', () => p.reloadIfChanged());
  for (const p of plugins) {
    if (p instanceof FileAuthPlugin || p instanceof AclFilePlugin || typeof p.reload !== 'function') continue;
    await record(`plugin:${p.name ?? 'anonymous'}`, async () => {
      await p.reload!();
      return true;
    });
  }
  for (const l of listeners) if (l.config.ssl) await record(`tls:${l.config.name}`, () => l.reloadTls());
  return report;
}
