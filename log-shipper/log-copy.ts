import * as fs from 'node:fs';
import { promisify } from 'node:util';

/**
 * A piece of a removed container's log to copy: a file from byte `from` to its end, through a descriptor the copy
 * owns (closed by copyLogParts), or a gzipped rotated file's content, decompressed in memory.
 */
export type LogPart = { fd: number; from: number } | { data: Buffer };

/** Bytes copied between two turns of the event loop: 3–6 ms of the main thread here (bench/scripts/log-copy-stall.mjs). */
const SLICE_BYTES = 4 * 1024 * 1024;
const CHUNK = 128 * 1024;
const fsyncAsync = promisify(fs.fsync);

/** What a copy kept: `bytes` in the copy, `left` of the parts' bytes not in it (0: whole; see copyLogParts' `cutNow`). */
export interface CopiedLog {
  bytes: number;
  left: number;
}

/**
 * Copies `parts`, in order, into `dest`: a temp file, fsync'd and renamed when whole. The event loop gets a turn
 * after every SLICE_BYTES and during the fsync: a removed container's undelivered log can be gigabytes after a long
 * outage, and copied in one go it held the agent's main thread (the exporter's scrapes, the alert engine's
 * evaluations, every other reader) for seconds. `cancelled` is asked at each turn and before the rename: when it
 * says so, nothing is left behind and the result is undefined. `cutNow` is asked at each turn too (a stop's time is
 * up): when it says so, the copy ends with the whole lines copied so far, kept like a whole copy, and `left` says
 * how much was not. Closes the parts' descriptors in every case.
 */
export async function copyLogParts(parts: readonly LogPart[], dest: string, cancelled: () => boolean, cutNow: () => boolean = () => false): Promise<CopiedLog | undefined> {
  const tmp = `${dest}.tmp`;
  let out: number | undefined;
  let renamed = false;
  try {
    const total = parts.reduce((n, part) => n + ('data' in part ? part.data.length : Math.max(0, fs.fstatSync(part.fd).size - part.from)), 0);
    // Read back only when cut (cutAfterLastNewline).
    out = fs.openSync(tmp, 'w+');
    const buf = Buffer.allocUnsafe(CHUNK);
    let copied = 0;
    let sliceLeft = SLICE_BYTES;
    const put = (b: Buffer, n: number) => {
      for (let off = 0; off < n;) off += fs.writeSync(out!, b, off, n - off);
      copied += n;
      sliceLeft -= n;
    };
    let cut = false;
    copying: for (const part of parts) {
      if ('data' in part) {
        put(part.data, part.data.length);
        continue;
      }
      for (let pos = part.from, n; (n = fs.readSync(part.fd, buf, 0, CHUNK, pos)) > 0; pos += n) {
        put(buf, n);
        if (sliceLeft > 0) continue;
        sliceLeft = SLICE_BYTES;
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (cancelled()) return undefined;
        if (cutNow()) {
          cut = true;
          break copying;
        }
      }
    }
    // A slice ends wherever 4 MiB ends, mostly inside a line.
    if (cut) copied = cutAfterLastNewline(out);
    await fsyncAsync(out);
    if (cancelled()) return undefined;
    fs.closeSync(out);
    out = undefined;
    fs.renameSync(tmp, dest);
    renamed = true;
    return { bytes: copied, left: cut ? Math.max(0, total - copied) : 0 };
  } finally {
    if (out !== undefined) fs.closeSync(out);
    if (!renamed) fs.rmSync(tmp, { force: true });
    for (const part of parts) if ('fd' in part) fs.closeSync(part.fd);
  }
}

/**
 * Cuts the file open at `fd` (for reading and writing) after its last newline and returns its new size; 0 when it
 * holds no whole line. For a copy of a log that ends inside a line: one cut short by a stop's timeout or by a kill.
 */
export function cutAfterLastNewline(fd: number): number {
  const buf = Buffer.allocUnsafe(64 * 1024);
  for (let end = fs.fstatSync(fd).size; end > 0;) {
    const start = Math.max(0, end - buf.length);
    const n = fs.readSync(fd, buf, 0, end - start, start);
    const newline = buf.lastIndexOf(10, n - 1);
    if (newline >= 0) {
      fs.ftruncateSync(fd, start + newline + 1);
      return start + newline + 1;
    }
    end = start;
  }
  fs.ftruncateSync(fd, 0);
  return 0;
}

/**
 * A descriptor of the copy's own for the file behind the reader's descriptor `fd`, also when the file was deleted
 * (a removed container's log): the reader may close its descriptor while a copy runs, and the number can then come
 * back for another file.
 */
export function reopenDescriptor(fd: number): number {
  return fs.openSync(`/proc/self/fd/${fd}`, 'r');
}
