/**
 * Watches files for content changes, the way Kubernetes changes them: a ConfigMap or Secret
 * volume holds `..data -> ..2024_01_01_00_00_00.123`, each file is a symlink through `..data`,
 * and an update writes a new timestamped folder and renames a new `..data` over the old one. The
 * files themselves are never written, so their folders are watched (fs.watch on a directory sees
 * the rename), events are debounced, and a change is reported only when a file's content hash
 * differs from the last one seen (editors and kubelet make several events per change, and
 * unrelated files share the folder).
 */
import { createHash } from 'node:crypto';
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { dirname, resolve } from 'node:path';

export class FileContentWatch {
  private readonly files: string[];
  private readonly hashes = new Map<string, string>();
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  /**
   * @param files     the files whose content matters (relative paths are taken from the cwd)
   * @param debounceMs quiet time after the last event before the hashes are compared
   * @param onChange  the files whose content changed (or appeared, or vanished)
   * @param onError   a folder that cannot be watched (it is skipped)
   */
  constructor(
    files: readonly string[],
    private readonly debounceMs: number,
    private readonly onChange: (changed: string[]) => void,
    private readonly onError: (err: Error) => void,
  ) {
    this.files = [...new Set(files.map((f) => resolve(f)))];
  }

  start(): void {
    for (const f of this.files) this.hashes.set(f, contentHash(f));
    for (const dir of new Set(this.files.map((f) => dirname(f)))) {
      try {
        const w = watch(dir, { persistent: false }, () => this.schedule());
        w.on('error', (err) => this.onError(new Error(`reload.watch: ${dir}: ${err.message}`)));
        this.watchers.push(w);
      } catch (err) {
        this.onError(new Error(`reload.watch: cannot watch ${dir}: ${(err as Error).message}`));
      }
    }
  }

  /** Watched folders (for the log). */
  get folders(): string[] {
    return [...new Set(this.files.map((f) => dirname(f)))];
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.check(), this.debounceMs);
    this.timer.unref();
  }

  /** Compares every file with its last hash; reports the ones that changed. */
  check(): void {
    this.timer = null;
    if (this.closed) return;
    const changed: string[] = [];
    for (const f of this.files) {
      const h = contentHash(f);
      if (h !== this.hashes.get(f)) {
        this.hashes.set(f, h);
        changed.push(f);
      }
    }
    if (changed.length > 0) this.onChange(changed);
  }

  /**
   * Takes the files' current content as seen: a reload that has just read them (SIGHUP, the API,
   * the users API's own write) is not followed by a second one when the watch sees the same write.
   */
  resync(files: readonly string[] = this.files): void {
    for (const f of files) {
      const abs = resolve(f);
      if (this.hashes.has(abs)) this.hashes.set(abs, contentHash(abs));
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (const w of this.watchers) w.close();
    this.watchers.length = 0;
  }
}

/** SHA-256 of a file's content, following symlinks; '' when it cannot be read (missing mid-swap). */
function contentHash(file: string): string {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return '';
  }
}
