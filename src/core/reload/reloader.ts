/**
 * The reload of a broker that runs from a config file: re-reads the file (for its inline ACLs),
 * reloads every part (see reload.ts), one reload at a time, and optionally watches the files for
 * changes (reload.watch). What SIGHUP, POST /api/v1/reload and the file watch all call.
 */
import type { Broker } from '../broker';
import { loadConfigFile } from '../config/loader';
import type { BrokerConfig } from '../config/types';
import { FileContentWatch } from './file-watch';
import type { ReloadReport } from './reload';

export interface BrokerReloaderOptions {
  /** The config file the broker was started from (its inline ACLs are re-read); none: embedded. */
  configFile?: string;
  /** The environment whose NESTMQ_* overrides applied at start (they apply again). */
  env?: Record<string, string | undefined>;
}

export class BrokerReloader {
  private queue: Promise<unknown> = Promise.resolve();
  private watch: FileContentWatch | null = null;

  constructor(
    private readonly broker: Broker,
    private readonly options: BrokerReloaderOptions = {},
  ) {}

  /** Reloads after any reload already running; never rejects (failures are in the report). */
  reload(): Promise<ReloadReport> {
    const run = this.queue.then(() => {
      // The content read now is the content reloaded: the watch must not reload it again.
      this.watch?.resync();
      return this.broker.reload(this.readConfig());
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Reloads only the auth plugins after the password file was written in-process (the admin users
   * API), queued with the other reloads; the watch takes the new content as seen, so the same
   * write is reloaded once.
   */
  reloadAuth(): Promise<void> {
    const run = this.queue.then(() => {
      const file = this.broker.config.auth.passwordFile;
      if (file !== undefined) this.watch?.resync([file]);
      return this.broker.reloadAuth();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private readConfig(): BrokerConfig | Error | undefined {
    const file = this.options.configFile;
    if (file === undefined) return undefined;
    try {
      return loadConfigFile(file, this.options.env);
    } catch (err) {
      return err as Error;
    }
  }

  /** Every file a reload reads: the config file, password and ACL files, TLS certificates, keys and CA files. */
  watchedFiles(): string[] {
    const c = this.broker.config;
    const files: (string | undefined)[] = [this.options.configFile, c.auth.passwordFile, c.topicCheck.aclFile];
    for (const l of c.listeners) if (l.ssl) files.push(l.certfile, l.keyfile, l.cafile);
    return files.filter((f): f is string => f !== undefined);
  }

  /**
   * Watches the files (reload.watch) and calls `onReload` with each reload's report. Returns the
   * folders watched.
   */
  startWatching(onReload: (report: Promise<ReloadReport>, changed: string[]) => void, onError: (err: Error) => void): string[] {
    if (this.watch !== null) return this.watch.folders;
    const cfg = this.broker.config.reload;
    const files = this.watchedFiles();
    if (files.length === 0) return [];
    this.watch = new FileContentWatch(files, cfg.debounce * 1000, (changed) => onReload(this.reload(), changed), onError);
    this.watch.start();
    return this.watch.folders;
  }

  close(): void {
    this.watch?.close();
    this.watch = null;
  }
}
