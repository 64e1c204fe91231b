import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Replaces a file's content atomically and durably: a temp file beside it, fsync, rename over the old one, fsync of
 * the directory. A kill -9 or a power cut leaves the old content or the new one, never a mix; a failure leaves no
 * temp file behind and is thrown. The temp file's name is `<file>.tmp-<pid>-<n>`: callers that load the file
 * remove leftovers of a killed process (removeLeftoverTempFiles).
 */
export function replaceFileSync(file: string, data: string | Buffer, mode = 0o644): void {
  const tmp = tempName(file);
  try {
    fs.writeFileSync(tmp, data, { mode, flush: true });
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  syncDirectorySync(path.dirname(file));
}

/** replaceFileSync off the event loop (a slow disk does not stall the caller). */
export async function replaceFile(file: string, data: string | Buffer, mode = 0o644): Promise<void> {
  const tmp = tempName(file);
  try {
    const fh = await fs.promises.open(tmp, 'w', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  await syncDirectory(path.dirname(file));
}

/** Temp files replaceFile left when the process was killed mid-write: never current, removed at load. */
export function removeLeftoverTempFiles(file: string): void {
  const prefix = `${path.basename(file)}.tmp-`;
  const dir = path.dirname(file);
  for (const f of fs.readdirSync(dir)) if (f.startsWith(prefix)) fs.rmSync(path.join(dir, f), { force: true });
}

let tempSeq = 0;

/** Unique within the process; in a container the PID is the same on every run, so names only avoid clashes here. */
function tempName(file: string): string {
  return `${file}.tmp-${process.pid}-${++tempSeq}`;
}

function syncDirectorySync(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
  } catch {
    // Directory fsync is unsupported on some filesystems; the rename is still atomic.
  }
}

async function syncDirectory(dir: string): Promise<void> {
  try {
    const fh = await fs.promises.open(dir, 'r');
    try { await fh.sync(); } finally { await fh.close(); }
  } catch {
    // Directory fsync is unsupported on some filesystems; the rename is still atomic.
  }
}
