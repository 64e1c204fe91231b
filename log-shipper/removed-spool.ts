import * as fs from 'node:fs';
import * as path from 'node:path';
import { replaceFileSync } from '../core/fs/atomic-file.js';
import type { ContainerRecord } from '../core/state/types.js';
import { cutAfterLastNewline, type CopiedLog } from './log-copy.js';

/** A removed container's log kept in the state dir (at logPathOf(id)), and the record its messages carry. */
export interface SpooledLog {
  id: string;
  record: ContainerRecord;
}

const ID = /^[0-9a-f]{12,64}$/;

/**
 * `<state-dir>/removed/`: the logs of removed containers (`--rm`, `docker rm`, swarm pruning old tasks) not delivered
 * to their end (the destination is down or behind; and at a stop), copied from the files the shipper held open (the
 * engine unlinked them; log-copy.ts), each as `<id>-json.log` in the engine's format plus `<id>.json`, the
 * container's record: the only copy a kill -9 leaves.
 * Deleted once every line is delivered; the next start reads those left like a removed container's open file, from
 * the container's cursor. At most shipper.removed-files-max of them.
 */
export class RemovedLogSpool {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = path.join(stateDir, 'removed');
  }

  /**
   * Keeps one container's log: `copy` writes it to the path it is given (a temp file renamed when whole; undefined:
   * nothing to keep, or the copy was cancelled; a copy cut by a stop's timeout is renamed with the whole lines it
   * holds). The record is written first (atomically and durably), so that a kill -9 at any point leaves a log only
   * with its record: a record whose log never came is shipped from its temp file's whole lines, or removed, by
   * list().
   */
  async save(record: ContainerRecord, copy: (dest: string) => Promise<CopiedLog | undefined>): Promise<CopiedLog | undefined> {
    fs.mkdirSync(this.dir, { recursive: true });
    const recordPath = path.join(this.dir, `${record.id}.json`);
    replaceFileSync(recordPath, JSON.stringify(record));
    let copied: CopiedLog | undefined;
    try {
      copied = await copy(this.logPathOf(record.id));
    } finally {
      if (copied === undefined) fs.rmSync(recordPath, { force: true });
    }
    return copied;
  }

  /**
   * The kept logs with their records. A log whose record is missing or does not parse is deleted with a warning (not
   * read with a made-up record). A record without its log is a copy a kill cut short: the whole lines its temp file
   * holds are kept (the oldest undelivered ones: a copy runs in the log's order), with a warning that the rest is
   * lost; with none, the record is removed. Other temp files are removed.
   */
  list(warn: (message: string) => void): SpooledLog[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: SpooledLog[] = [];
    const logs = new Set<string>();
    const readRecord = (id: string): ContainerRecord => {
      const record = JSON.parse(fs.readFileSync(path.join(this.dir, `${id}.json`), 'utf8')) as ContainerRecord;
      if (record.id !== id || typeof record.name !== 'string') throw new Error('not a container record');
      return record;
    };
    for (const name of names) {
      const id = name.endsWith('-json.log') ? name.slice(0, -'-json.log'.length) : undefined;
      if (!id || !ID.test(id)) continue;
      logs.add(id);
      try {
        out.push({ id, record: readRecord(id) });
      } catch (err) {
        warn(`dropping the kept log of removed container ${id.slice(0, 12)} in ${this.dir}: its record ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'is missing (removed by hand?)' : `cannot be read (${(err as Error).message})`}`);
        this.drop(id);
      }
    }
    for (const name of names) {
      const id = name.endsWith('.json') ? name.slice(0, -'.json'.length) : undefined;
      if (!id || !ID.test(id) || logs.has(id)) continue;
      const tmp = `${this.logPathOf(id)}.tmp`;
      try {
        const record = readRecord(id);
        const bytes = fs.existsSync(tmp) ? keepWholeLines(tmp) : 0;
        if (bytes > 0) {
          fs.renameSync(tmp, this.logPathOf(id));
          out.push({ id, record });
          warn(`the copy of the log of removed container ${record.name} (${id.slice(0, 12)}) in ${this.dir} was cut short (the shipper was killed while it copied): shipping the ${bytes} bytes of whole lines it holds; what it had not delivered beyond them is lost`);
          continue;
        }
      } catch {
        // An unreadable record or temp file: nothing to ship from it.
      }
      warn(`the copy of the log of removed container ${id.slice(0, 12)} in ${this.dir} was cut short (the shipper was killed while it copied): what it had not delivered of that log is lost`);
      fs.rmSync(path.join(this.dir, name), { force: true });
    }
    // A salvaged temp log was renamed: its old name is gone.
    for (const name of names) if (name.includes('.tmp')) fs.rmSync(path.join(this.dir, name), { force: true });
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

/** The temp log of a copy a kill cut short, cut after its last whole line and made durable; its size. */
function keepWholeLines(file: string): number {
  const fd = fs.openSync(file, 'r+');
  try {
    const bytes = cutAfterLastNewline(fd);
    fs.fsyncSync(fd);
    return bytes;
  } finally {
    fs.closeSync(fd);
  }
}
