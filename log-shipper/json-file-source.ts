import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import type { StreamName } from './frames.js';
import { compareTime, parseEngineTime, type EngineTime } from './timestamp.js';

/** One json-file entry: `{"log":"text\n","stream":"stdout","time":"RFC3339Nano"}`. */
export interface FileEntry {
  stream: StreamName;
  time: EngineTime;
  text: string;
  partial: boolean;
}

const CHUNK = 1 << 20;

interface OpenFile {
  /** For plain files. */
  fd?: number;
  /** For gzipped rotated files: the whole decompressed content. */
  data?: Buffer;
  ino: number;
  offset: number;
  live: boolean;
  /** The live path now names another file; one more read to the end, then switch. */
  sawRotation?: boolean;
}

/**
 * Reads a container's json-file log directly: rotated files oldest first (`<log>.N` … `<log>.1`, gzipped or not),
 * then the live file, from a timestamp on, following the live file across rotations. The engine's logs API
 * flushes every entry of a follow stream on its own, which caps it near 25,000 lines/s here; the file is read in
 * 1 MiB chunks. Used only in read-mode "file" when the file is readable and the container logs with json-file.
 */
export class JsonFileSource {
  private files: string[] = [];
  private current?: OpenFile;
  private carry: Buffer = Buffer.alloc(0);
  private readonly buf = Buffer.allocUnsafe(CHUNK);

  constructor(readonly logPath: string, private readonly since: EngineTime | undefined) {}

  private rotated(): string[] {
    const out: string[] = [];
    for (let i = 1; i < 10_000; i++) {
      const plain = `${this.logPath}.${i}`;
      if (fs.existsSync(plain)) out.push(plain);
      else if (fs.existsSync(`${plain}.gz`)) out.push(`${plain}.gz`);
      else break;
    }
    return out.reverse();
  }

  /** Lists the files; a rotation between listing and opening is caught by listing again. */
  open(): void {
    for (let attempt = 0; attempt < 5; attempt++) {
      const before = this.rotated();
      const fd = fs.openSync(this.logPath, 'r');
      const after = this.rotated();
      if (before.join() === after.join()) {
        this.files = after;
        this.current = undefined;
        this.liveFd = fd;
        this.nextFile();
        return;
      }
      fs.closeSync(fd);
    }
    throw new Error(`${this.logPath} keeps rotating while being opened`);
  }

  private liveFd?: number;

  private nextFile(): void {
    if (this.current?.fd !== undefined && !this.current.live) fs.closeSync(this.current.fd);
    this.carry = Buffer.alloc(0);
    const file = this.files.shift();
    if (file === undefined) {
      const fd = this.liveFd!;
      this.current = { fd, ino: fs.fstatSync(fd).ino, offset: 0, live: true };
      return;
    }
    try {
      if (file.endsWith('.gz')) this.current = { data: zlib.gunzipSync(fs.readFileSync(file)), ino: 0, offset: 0, live: false };
      else { const fd = fs.openSync(file, 'r'); this.current = { fd, ino: 0, offset: 0, live: false }; }
    } catch (err) {
      // Rotated away (max-file reached) before we got to it: nothing to read there any more.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.nextFile();
    }
  }

  private parse(chunk: Buffer, emit: (e: FileEntry) => void): void {
    const text = chunk.toString('utf8');
    let start = 0;
    for (let nl = text.indexOf('\n', start); nl !== -1; nl = text.indexOf('\n', start)) {
      const line = text.slice(start, nl);
      start = nl + 1;
      if (line.length === 0) continue;
      let o: { log?: unknown; stream?: unknown; time?: unknown };
      try {
        o = JSON.parse(line) as typeof o;
      } catch {
        continue;
      }
      const time = typeof o.time === 'string' ? parseEngineTime(o.time) : undefined;
      if (!time || typeof o.log !== 'string') continue;
      if (this.since && compareTime(time, this.since) < 0) continue;
      const partial = !o.log.endsWith('\n');
      emit({ stream: o.stream === 'stderr' ? 'stderr' : 'stdout', time, text: partial ? o.log : o.log.slice(0, -1), partial });
    }
  }

  /** Reads one chunk; returns false when the live file has nothing more right now. */
  readMore(emit: (e: FileEntry) => void): boolean {
    const f = this.current;
    if (!f) return false;
    let n: number;
    let chunk: Buffer;
    if (f.data) {
      chunk = f.data.subarray(f.offset, f.offset + CHUNK);
      n = chunk.length;
    } else {
      n = fs.readSync(f.fd!, this.buf, 0, CHUNK, f.offset);
      chunk = this.buf.subarray(0, n);
    }
    if (n > 0) {
      f.offset += n;
      // Only whole lines are parsed; a line cut by the chunk boundary waits for the next read.
      const lastNl = chunk.lastIndexOf(10);
      if (lastNl < 0) {
        this.carry = Buffer.concat([this.carry, chunk]);
        return true;
      }
      const whole = this.carry.length ? Buffer.concat([this.carry, chunk.subarray(0, lastNl + 1)]) : chunk.subarray(0, lastNl + 1);
      this.carry = Buffer.from(chunk.subarray(lastNl + 1));
      this.parse(whole, emit);
      return true;
    }
    if (!f.live) {
      this.nextFile();
      return true;
    }
    let st: fs.Stats;
    try {
      st = fs.statSync(this.logPath);
    } catch {
      return false;
    }
    if (st.ino !== f.ino && !f.sawRotation) {
      // The engine may have written to this file between our last read and the rename: read it to its end once more.
      f.sawRotation = true;
      return true;
    }
    if (st.ino !== f.ino) {
      // Rotated: the file we hold is complete (we just read it to its end); continue with the new live file.
      fs.closeSync(f.fd!);
      this.liveFd = fs.openSync(this.logPath, 'r');
      this.current = { fd: this.liveFd, ino: fs.fstatSync(this.liveFd).ino, offset: 0, live: true };
      this.carry = Buffer.alloc(0);
      return true;
    }
    return false;
  }

  close(): void {
    if (this.current?.fd !== undefined) fs.closeSync(this.current.fd);
    if (this.liveFd !== undefined && this.liveFd !== this.current?.fd) fs.closeSync(this.liveFd);
    this.current = undefined;
    this.liveFd = undefined;
  }
}
