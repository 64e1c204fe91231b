import * as fs from 'node:fs';
import * as path from 'node:path';

const CONTAINER_ID = /^[0-9a-f]{64}$/;

/**
 * Tells the shipper the moment the engine creates a container's json-file log (read-mode file), from inotify on the
 * engine's containers dir, without waiting for the engine's start event. In a burst of starts the engine, busy
 * starting them, sends its events late, and a short `--rm` job can be started, done and removed, log and all,
 * before its start event arrives: it was counted as missed (1 of 50 in a burst alone, 5 of 50 beside another test
 * file). The kernel reports the files as they appear, whatever the engine is doing.
 *
 * The containers dir is watched for new container dirs (made at create) and removed ones; each new one is watched
 * until its log appears (made at start), then that watch closes. At most `maxDirs` dirs are watched at once, each
 * at most `maxAgeMs` (a container created and not started): the start event covers those.
 */
export class ContainersDirWatch {
  private root?: fs.FSWatcher;
  private readonly dirs = new Map<string, { watcher: fs.FSWatcher; since: number }>();
  /** fs.watch failed (the inotify watch limit, fs.inotify.max_user_watches): the start events alone are used. */
  private unavailable?: Error;

  constructor(
    private readonly containersDir: string,
    private readonly onLogCreated: (id: string) => void,
    /** The watch could not be set, or broke later (the dir removed under the engine): said once, by the caller. */
    private readonly onUnavailable: (err: Error) => void = () => undefined,
    private readonly maxDirs = 256,
    private readonly maxAgeMs = 60_000,
    /** A container's dir was deleted: the engine removed the container (its events may not have come yet). */
    private readonly onDirRemoved: (id: string) => void = () => undefined,
  ) {}

  start(): void {
    if (this.root || this.unavailable) return;
    try {
      this.root = fs.watch(this.containersDir, { persistent: false }, (_event, name) => {
        if (typeof name !== 'string' || !CONTAINER_ID.test(name)) return;
        if (fs.existsSync(path.join(this.containersDir, name))) this.watchContainerDir(name);
        else { this.unwatch(name); this.onDirRemoved(name); }
      });
      this.root.on('error', (err) => this.fail(err));
    } catch (err) {
      this.fail(err as Error);
    }
  }

  private fail(err: Error): void {
    this.unavailable = err;
    this.close();
    this.onUnavailable(err);
  }

  /** How many container dirs are watched for their log now. */
  get watchedDirs(): number {
    return this.dirs.size;
  }

  private watchContainerDir(id: string): void {
    if (this.dirs.has(id)) return;
    this.expire();
    if (this.dirs.size >= this.maxDirs) return;
    const dir = path.join(this.containersDir, id);
    const log = `${id}-json.log`;
    let watcher: fs.FSWatcher;
    try {
      watcher = fs.watch(dir, { persistent: false }, (_event, name) => {
        if (name === log) this.logCreated(id);
      });
    } catch {
      // The rename that removed the dir (a removal), or the watch limit: the start event covers it.
      return;
    }
    // A watch that breaks (the dir removed) just ends.
    watcher.on('error', () => this.unwatch(id));
    this.dirs.set(id, { watcher, since: Date.now() });
    // Created between the dir's event and the watch: seen by looking once.
    if (fs.existsSync(path.join(dir, log))) this.logCreated(id);
  }

  private logCreated(id: string): void {
    if (!this.dirs.has(id)) return;
    this.unwatch(id);
    this.onLogCreated(id);
  }

  private unwatch(id: string): void {
    this.dirs.get(id)?.watcher.close();
    this.dirs.delete(id);
  }

  private expire(now = Date.now()): void {
    for (const [id, d] of this.dirs) if (now - d.since > this.maxAgeMs) this.unwatch(id);
  }

  close(): void {
    this.root?.close();
    this.root = undefined;
    for (const id of [...this.dirs.keys()]) this.unwatch(id);
  }
}
