import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ContainerRecord } from '../core/state/types.js';

/** A removed container's log kept in the state dir across a stop (at logPathOf(id)), and the record its messages carry. */
export interface SpooledLog {
  id: string;
  record: ContainerRecord;
}

const ID = /^[0-9a-f]{12,64}$/;

/**
 * `<state-dir>/removed/`: the logs of removed containers (`--rm`) not delivered to their end (the destination is down
 * or behind; and at a stop), copied from the descriptors the shipper held (the engine unlinked the files), each as
 * `<id>-json.log` in the engine's format plus `<id>.json`, the container's record: the only copy a kill -9 leaves.
 * Deleted once every line is delivered; the next start reads those left like a removed container's open file, from
 * the container's cursor. At most shipper.removed-files-max of them.
 */
export class RemovedLogSpool {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = path.join(stateDir, 'removed');
  }

  /**
   * Keeps one container's log: `copy` writes it to the path it is given (undefined: nothing to keep). The record is
   * written after the log, so a spool entry with a record always has its whole log.
   */
  save(record: ContainerRecord, copy: (dest: string) => number | undefined): number | undefined {
    fs.mkdirSync(this.dir, { recursive: true });
    const bytes = copy(this.logPathOf(record.id));
    if (bytes === undefined) return undefined;
    const tmp = path.join(this.dir, `${record.id}.json.tmp`);
    fs.writeFileSync(tmp, JSON.stringify(record));
    fs.renameSync(tmp, path.join(this.dir, `${record.id}.json`));
    return bytes;
  }

  /** The kept logs; a log without its record (a stop cut short) or a record that does not parse is deleted. */
  list(warn: (message: string) => void): SpooledLog[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: SpooledLog[] = [];
    for (const name of names) {
      const id = name.endsWith('-json.log') ? name.slice(0, -'-json.log'.length) : undefined;
      if (!id || !ID.test(id)) continue;
      try {
        const record = JSON.parse(fs.readFileSync(path.join(this.dir, `${id}.json`), 'utf8')) as ContainerRecord;
        if (record.id !== id || typeof record.name !== 'string') throw new Error('not a container record');
        out.push({ id, record });
      } catch (err) {
        warn(`dropping the kept log of removed container ${id.slice(0, 12)} in ${this.dir}: its record ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'is missing (the stop that wrote it was cut short)' : `cannot be read (${(err as Error).message})`}`);
        this.drop(id);
      }
    }
    for (const name of names) if (name.endsWith('.tmp')) fs.rmSync(path.join(this.dir, name), { force: true });
    return out;
  }

  drop(id: string): void {
    fs.rmSync(this.logPathOf(id), { force: true });
    fs.rmSync(path.join(this.dir, `${id}.json`), { force: true });
  }

  logPathOf(id: string): string {
    return path.join(this.dir, `${id}-json.log`);
  }
}
