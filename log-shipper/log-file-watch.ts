import * as fs from 'node:fs';

/**
 * Tells a json-file reader that has read to the end when the engine writes to the file again (inotify, through
 * fs.watch), so a quiet container costs nothing until it logs and its line is read at once. Polling did it in
 * 10–100 ms steps: 50 containers printing a line a second each cost the shipper 37 ms of CPU per second, and a
 * line waited 52 ms for the next look (median; docs/benchmarks.md, "Containers that log little").
 *
 * Set when the reader has read to the end, and kept while the container logs a line now and then; a container
 * that logs without pause is read chunk after chunk, and the reader closes the watch (it would call back once per
 * engine write). A change that comes while the reader reads ends its next wait at once.
 */
export class LogFileWatch {
  private watcher?: fs.FSWatcher;
  private changed = false;
  private onChange?: () => void;
  /** fs.watch failed (e.g. the inotify watch limit, fs.inotify.max_user_watches, was reached): poll instead. */
  unavailable?: Error;

  /**
   * Starts watching the file the path names now; false when that is not possible (the caller polls). A write
   * between the caller's last read and this call is not seen: read once more after arming, before waiting.
   */
  arm(file: string): boolean {
    if (this.watcher) return true;
    if (this.unavailable) return false;
    try {
      this.watcher = fs.watch(file, { persistent: false }, () => {
        this.changed = true;
        this.onChange?.();
      });
    } catch (err) {
      // No file at the path: the engine is between renaming it away and creating the next one (a rotation); the
      // reader polls this once and arms again. Anything else (the watch limit) holds for good.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.unavailable = err as Error;
      return false;
    }
    // A watch that breaks (its file gone with the watch limit reached, say) just ends the wait: the read looks.
    this.watcher.on('error', () => { this.changed = true; this.onChange?.(); this.disarm(); });
    this.changed = false;
    return true;
  }

  get armed(): boolean {
    return this.watcher !== undefined;
  }

  /**
   * Resolves at the first change since arm() (at once when one came already), or after `ms` as a safety net;
   * `setWake` receives the function that ends the wait early (the container stopped, the reader stops).
   */
  wait(ms: number, setWake: (wake: () => void) => void): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.onChange = undefined;
        // Seen: a change that comes after this (while the reader reads) ends the next wait at once, this one not.
        this.changed = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      setWake(done);
      if (this.changed) done();
      else this.onChange = done;
    });
  }

  disarm(): void {
    if (!this.watcher) return;
    this.watcher.close();
    this.watcher = undefined;
    this.onChange = undefined;
    this.changed = false;
  }
}
