import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, SwarmwatchError } from '../../core/errors.js';
import { removeLeftoverTempFiles, replaceFileSync } from '../../core/fs/atomic-file.js';

/**
 * One JSON document written atomically and durably: write a temp file, fsync it, rename it over the old one,
 * fsync the directory (replaceFileSync). After `save()` returns, a kill -9 or power cut leaves either the old or
 * the new state.
 */
export class StateFile<T> {
  readonly path: string;

  constructor(readonly dir: string, name: string) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new SwarmwatchError('SW_ERR_ALERT_STATE_DIR', `cannot create alert state directory ${dir}: ${(err as Error).message}`, {
        culprit: dir, fix: 'set alertmanager.state-dir (SWARMWATCH_ALERTMANAGER_STATE_DIR) to a writable directory, e.g. a volume', cause: err,
      });
    }
    this.path = join(dir, name);
  }

  load(): T | undefined {
    removeLeftoverTempFiles(this.path);
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new SwarmwatchError('SW_ERR_ALERT_STATE_READ', `cannot read ${this.path}: ${(err as Error).message}`, { culprit: this.path, cause: err });
    }
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new SwarmwatchError(ErrorCodes.CONFIG_INVALID, `${this.path} is not valid JSON (${(err as Error).message})`, {
        culprit: this.path, fix: 'the file is only ever replaced atomically; if it was edited by hand, fix or remove it', cause: err,
      });
    }
  }

  save(value: T): void {
    replaceFileSync(this.path, JSON.stringify(value), 0o600);
  }
}
