import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

/** Held until release() or the end of the process (a kill -9 included: the kernel drops it with the descriptor). */
export interface FileLock {
  release(): void;
}

export type LockAttempt = { held: FileLock } | { busy: true } | { unavailable: string };

/**
 * Tries once to take an exclusive flock(2) on `file` (created if missing), without blocking. Node has no flock, so
 * the util-linux `flock` command takes it on our open descriptor, passed as its fd 3: the lock belongs to the open
 * file, which stays open in this process after the command exits, and goes away when this process does. Works
 * across containers that share the volume. `unavailable`: no `flock` command (a minimal image) or no lock support
 * on the file system; the caller goes on without a lock.
 */
export function tryLockFile(file: string): LockAttempt {
  const fd = fs.openSync(file, 'a', 0o644);
  const r = spawnSync('flock', ['--exclusive', '--nonblock', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd], timeout: 10_000 });
  if (r.status === 0) {
    let open = true;
    return { held: { release: () => { if (open) { open = false; fs.closeSync(fd); } } } };
  }
  fs.closeSync(fd);
  if (r.status === 1) return { busy: true };
  return { unavailable: r.error ? r.error.message : `flock exited with ${r.status}: ${r.stderr?.toString().trim()}` };
}
