import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeEscapedText, JsonFileSource, parseJsonFileLine, type FileEntry } from '../../log-shipper/json-file-source.js';

const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true }); });

const entry = (i: number, stream = 'stdout') => JSON.stringify({ log: `line ${i}\n`, stream, time: `2026-01-01T00:00:${String(Math.floor(i / 10)).padStart(2, '0')}.${String(i % 10).padStart(9, '0')}Z` }) + '\n';

function drain(src: JsonFileSource): string[] {
  const out: string[] = [];
  while (src.readMore((e: FileEntry) => out.push(e.text)));
  return out;
}

describe('JsonFileSource', () => {
  it('reads rotated files (gzip and plain) oldest first, then the live file, from a timestamp', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-jf-'));
    dirs.push(dir);
    const log = path.join(dir, 'c-json.log');
    fs.writeFileSync(`${log}.2.gz`, zlib.gzipSync(Array.from({ length: 10 }, (_, i) => entry(i)).join('')));
    fs.writeFileSync(`${log}.1`, Array.from({ length: 10 }, (_, i) => entry(i + 10)).join(''));
    fs.writeFileSync(log, Array.from({ length: 5 }, (_, i) => entry(i + 20)).join(''));
    const all = new JsonFileSource(log, undefined);
    all.open();
    expect(drain(all)).toEqual(Array.from({ length: 25 }, (_, i) => `line ${i}`));
    all.close();
    const since = new JsonFileSource(log, { time: { sec: Date.UTC(2026, 0, 1) / 1000 + 1, nsec: 5 }, count: 1 });
    since.open();
    expect(drain(since)).toEqual(Array.from({ length: 10 }, (_, i) => `line ${i + 15}`));
    since.close();
  });

  it('stops mid-chunk when the consumer is full and goes on from the next line at the next call', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-jf-'));
    dirs.push(dir);
    const log = path.join(dir, 'c-json.log');
    fs.writeFileSync(log, Array.from({ length: 50 }, (_, i) => entry(i)).join(''));
    const src = new JsonFileSource(log, undefined);
    src.open();
    const got: string[] = [];
    let budget = 0;
    const calls: number[] = [];
    // A consumer that takes 7 entries per call, as a delivery buffer that fills and drains would.
    for (let call = 0; call < 100; call++) {
      budget = 7;
      const before = got.length;
      if (!src.readMore((e) => { got.push(e.text); budget--; }, () => budget <= 0)) break;
      calls.push(got.length - before);
    }
    src.close();
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => `line ${i}`));
    expect(Math.max(...calls)).toBe(7);
  });

  it('tells how much of a deleted log is still unread: what a removed container\'s reader would lose if it stopped', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-jf-'));
    dirs.push(dir);
    const log = path.join(dir, 'c-json.log');
    const text = Array.from({ length: 50 }, (_, i) => entry(i)).join('');
    fs.writeFileSync(log, text);
    const src = new JsonFileSource(log, undefined);
    src.open();
    expect(src.unreadBytes()).toBe(Buffer.byteLength(text));
    // The engine removes the container: the open file is all that is left of its log.
    fs.unlinkSync(log);
    let taken = 0;
    src.readMore(() => { taken++; }, () => taken >= 20);
    const handedOut = Buffer.byteLength(Array.from({ length: taken }, (_, i) => entry(i)).join(''));
    expect(src.unreadBytes()).toBe(Buffer.byteLength(text) - handedOut);
    drain(src);
    expect(src.unreadBytes()).toBe(0);
    src.close();
  });

  it('sources share read buffers: lines one left unparsed are not written over by another source reading meanwhile', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-jf-'));
    dirs.push(dir);
    // Each file several read chunks long, with text that says which file and line it is.
    const lines = (tag: string) => Array.from({ length: 3000 }, (_, i) => JSON.stringify({ log: `${tag} ${i} ${'z'.repeat(60)}\n`, stream: 'stdout', time: `2026-01-01T00:00:00.${String(i).padStart(9, '0')}Z` }) + '\n').join('');
    const sources = ['a', 'b', 'c'].map((tag) => {
      const log = path.join(dir, `${tag}-json.log`);
      fs.writeFileSync(log, lines(tag));
      const src = new JsonFileSource(log, undefined);
      src.open();
      return { tag, src, got: [] as string[], done: false };
    });
    // "a" takes 7 lines per call (a full delivery buffer): the rest of its chunk waits in the read buffer while "b"
    // and "c" read whole chunks in between, as readers of other containers do between a's turns.
    for (let turn = 0; turn < 5000 && sources.some((s) => !s.done); turn++) {
      for (const s of sources) {
        if (s.done) continue;
        let budget = s.tag === 'a' ? 7 : Infinity;
        // As the reader does: the line's bytes are copied out (arena, string) before the next read.
        const raw = (b: Buffer, start: number, end: number) => { s.got.push(b.toString('utf8', start, end)); budget--; };
        if (!s.src.readMore(() => undefined, () => budget <= 0, raw)) s.done = true;
      }
    }
    for (const s of sources) {
      s.src.close();
      expect(s.got.length, `lines of ${s.tag}`).toBe(3000);
      const wrong = s.got.findIndex((t, i) => t !== `${s.tag} ${i} ${'z'.repeat(60)}`);
      expect(wrong === -1 ? 'all as written' : `line ${wrong}: ${s.got[wrong]}`, `every line of ${s.tag} as written, in order`).toBe('all as written');
    }
  });

  it('follows the live file across two rotations between reads, without loss or duplicates', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-jf-'));
    dirs.push(dir);
    const log = path.join(dir, 'c-json.log');
    fs.writeFileSync(log, entry(0) + entry(1));
    const src = new JsonFileSource(log, undefined);
    src.open();
    const got = drain(src);
    // Two rotations while we were not looking; the engine also appended to the old file before the first one.
    fs.appendFileSync(log, entry(2));
    fs.renameSync(log, `${log}.1`);
    fs.writeFileSync(log, entry(3) + entry(4));
    fs.renameSync(`${log}.1`, `${log}.2`);
    fs.renameSync(log, `${log}.1`);
    fs.writeFileSync(log, entry(5));
    got.push(...drain(src));
    fs.appendFileSync(log, entry(6) + '{"log":"partial line","stream":"stderr","time":"2026-01-01T00:00:00.000000007Z"}\n');
    const rest: FileEntry[] = [];
    while (src.readMore((e) => rest.push(e)));
    expect([...got, ...rest.map((e) => e.text)]).toEqual(['line 0', 'line 1', 'line 2', 'line 3', 'line 4', 'line 5', 'line 6', 'partial line']);
    expect(rest.at(-1)).toMatchObject({ partial: true, stream: 'stderr' });
    src.close();
  });
});

describe('JsonFileSource and a rotation between listing the files and opening one', () => {
  /**
   * What engine 20.10 does at a rotation with max-file 3 and compress=true (daemon/logger/loggerutils): removes the
   * oldest, renames `.1.gz` to `.2.gz` and the live file to `.1`, compresses `.1` into `.1.gz` and removes `.1`; the
   * new live file gets `entries`. After it the rotated files have the same names as before, holding other files.
   */
  function engineRotate(log: string, entries: string): void {
    fs.rmSync(`${log}.2.gz`, { force: true });
    fs.renameSync(`${log}.1.gz`, `${log}.2.gz`);
    fs.renameSync(log, `${log}.1`);
    fs.writeFileSync(log, entries);
    fs.writeFileSync(`${log}.1.gz`, zlib.gzipSync(fs.readFileSync(`${log}.1`)));
    fs.rmSync(`${log}.1`);
  }

  /** `.2.gz` entries 0–9, `.1.gz` 10–19, live 20–29; a source resuming after entry `at`. */
  function steadyLog(at: number): { log: string; src: JsonFileSource } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-jf-'));
    dirs.push(dir);
    const log = path.join(dir, 'c-json.log');
    const range = (from: number) => Array.from({ length: 10 }, (_, i) => entry(from + i)).join('');
    fs.writeFileSync(`${log}.2.gz`, zlib.gzipSync(range(0)));
    fs.writeFileSync(`${log}.1.gz`, zlib.gzipSync(range(10)));
    fs.writeFileSync(log, range(20));
    return { log, src: new JsonFileSource(log, { time: { sec: Date.UTC(2026, 0, 1) / 1000 + Math.floor(at / 10), nsec: at % 10 }, count: 1 }) };
  }

  /** Runs `rotate` once, at the `call`th call of the source's private method `name`, before or after it runs. */
  function rotateAt(src: JsonFileSource, name: string, call: number, when: 'before' | 'after', rotate: () => void): void {
    const target = src as unknown as Record<string, (...args: unknown[]) => unknown>;
    const original = target[name];
    expect(typeof original, `JsonFileSource.${name}`).toBe('function');
    let calls = 0;
    target[name] = function (this: unknown, ...args: unknown[]) {
      const due = ++calls === call;
      if (due && when === 'before') rotate();
      const result = original!.apply(this, args);
      if (due && when === 'after') rotate();
      return result;
    };
  }
  const rotation = (log: string) => () => engineRotate(log, Array.from({ length: 10 }, (_, i) => entry(30 + i)).join(''));

  // From the cursor's own entry (handed out for the reader's tracker to count off) to the last.
  const linesFrom = (first: number) => Array.from({ length: 40 - first }, (_, i) => `line ${first + i}`);

  // At a start: after the resume point was found in `.1.gz` (10-19), before that name is opened; before the fix
  // 20-39 came, the file holding 12-19 skipped. Following: reading `.2.gz` (0-9), at its end the files are listed
  // again and `.1.gz` (10-19) comes next, the rotation before that name is opened; before the fix 10-19 were skipped.
  for (const c of [
    { when: 'a start', at: 12, method: 'rotatedFrom', call: 1, order: 'after' },
    { when: 'following', at: 2, method: 'nextFile', call: 2, order: 'before' },
  ] as const) it(`does not skip the file it listed when a rotation gave its name to the next one before it opened it (${c.when})`, () => {
    const { log, src } = steadyLog(c.at);
    rotateAt(src, c.method, c.call, c.order, rotation(log));
    src.open();
    expect(drain(src)).toEqual(linesFrom(c.at));
    expect(src.rotatedAway).toBe(false);
    src.close();
  });
});

describe('JsonFileSource after the clock stepped back', () => {
  // 30 entries at 00:00:00–00:00:02, then 20 stamped a minute earlier (the engine after a step back of 60 s), then 10
  // more; padded so the file takes several bisection probes.
  const stepped = (i: number) => {
    const sec = i < 30 ? Math.floor(i / 10) : i < 50 ? -60 + Math.floor((i - 30) / 10) : -58;
    const time = new Date(Date.UTC(2026, 0, 1) + sec * 1000).toISOString().slice(0, 19) + `.${String(i + 1).padStart(9, '0').replace(/0+$/, '')}Z`;
    return { line: JSON.stringify({ log: `line ${i} ${'p'.repeat(8000)}\n`, stream: 'stdout', time }) + '\n', time: { sec: Date.UTC(2026, 0, 1) / 1000 + sec, nsec: i + 1 } };
  };
  const all = Array.from({ length: 60 }, (_, i) => stepped(i));
  const read = (log: string, at: number) => {
    const src = new JsonFileSource(log, { time: all[at]!.time, count: 1 });
    src.open();
    const got = drain(src).map((t) => t.split(' ').slice(0, 2).join(' '));
    src.close();
    return got;
  };
  const linesFrom = (first: number) => Array.from({ length: 60 - first }, (_, k) => `line ${first + k}`);

  it('hands out every entry written after the cursor\'s own, also those stamped before it, and none before it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-jf-'));
    dirs.push(dir);
    const log = path.join(dir, 'c-json.log');
    fs.writeFileSync(log, all.map((e) => e.line).join(''));
    // The cursor just before the step: the 30 entries after it are all older than it.
    expect(read(log, 29)).toEqual(linesFrom(29));
    // The cursor among the entries stamped after the step: those before it in the file are newer than it.
    expect(read(log, 40)).toEqual(linesFrom(40));
    // Before the step.
    expect(read(log, 5)).toEqual(linesFrom(5));
  });

  it('goes on after the last entry handed out when the log is cut in place (copytruncate), also with entries stamped before it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-jf-'));
    dirs.push(dir);
    const log = path.join(dir, 'c-json.log');
    fs.writeFileSync(log, all.slice(0, 30).map((e) => e.line).join(''));
    const src = new JsonFileSource(log, undefined);
    src.open();
    const got = drain(src);
    // Written after the step, then copied to .1 and the log emptied; the engine goes on in the emptied file.
    fs.appendFileSync(log, all.slice(30, 40).map((e) => e.line).join(''));
    fs.copyFileSync(log, `${log}.1`);
    fs.truncateSync(log, 0);
    fs.writeFileSync(log, all.slice(40).map((e) => e.line).join(''));
    got.push(...drain(src));
    src.close();
    expect(got.map((t) => t.split(' ').slice(0, 2).join(' '))).toEqual(linesFrom(0));
  });
});

describe('JsonFileSource rotation gaps', () => {
  it('flags a cursor whose file was rotated away before it was read', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-jf-'));
    dirs.push(dir);
    const log = path.join(dir, 'c-json.log');
    fs.writeFileSync(`${log}.1`, Array.from({ length: 10 }, (_, i) => entry(i + 50)).join(''));
    fs.writeFileSync(log, entry(60));
    const behind = new JsonFileSource(log, { time: { sec: Date.UTC(2026, 0, 1) / 1000 + 1, nsec: 0 }, count: 1 });
    behind.open();
    expect(behind.rotatedAway).toBe(true);
    expect(drain(behind)[0]).toBe('line 50');
    behind.close();
    const current = new JsonFileSource(log, { time: { sec: Date.UTC(2026, 0, 1) / 1000 + 5, nsec: 5 }, count: 1 });
    current.open();
    expect(current.rotatedAway).toBe(false);
    current.close();
  });

  it('reads a removed container\'s live log from a descriptor held before the removal, and flags the rotated files that went with it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-jf-'));
    dirs.push(dir);
    const log = path.join(dir, 'c-json.log');
    fs.writeFileSync(`${log}.1`, Array.from({ length: 10 }, (_, i) => entry(i + 50)).join(''));
    fs.writeFileSync(log, entry(60) + entry(61));
    const heldBehind = fs.openSync(log, 'r');
    const heldCurrent = fs.openSync(log, 'r');
    fs.rmSync(dir, { recursive: true });
    // The cursor is in the rotated file, deleted unread with the container.
    const behind = new JsonFileSource(log, { time: { sec: Date.UTC(2026, 0, 1) / 1000 + 5, nsec: 3 }, count: 1 }, heldBehind);
    behind.open();
    expect(behind.rotatedAway).toBe(true);
    expect(drain(behind)).toEqual(['line 60', 'line 61']);
    behind.close();
    // The cursor is the live file's first entry (handed out again: `since` is inclusive): nothing was lost.
    const current = new JsonFileSource(log, { time: { sec: Date.UTC(2026, 0, 1) / 1000 + 6, nsec: 0 }, count: 1 }, heldCurrent);
    current.open();
    expect(current.rotatedAway).toBe(false);
    expect(drain(current)).toEqual(['line 60', 'line 61']);
    current.close();
  });
});

describe('JsonFileSource and a log cut in place (truncate -s 0)', () => {
  const lines = (from: number, n: number) => Array.from({ length: n }, (_, i) => entry(from + i)).join('');
  const texts = (from: number, n: number) => Array.from({ length: n }, (_, i) => `line ${from + i}`);
  function liveLog(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-jf-'));
    dirs.push(dir);
    return path.join(dir, 'c-json.log');
  }
  afterEach(() => { vi.useRealTimers(); });

  /** Reads 30 entries of a live log to its end, lets `change` act on the file, then reads again (`pausedMs` later). */
  function readAround(change: (log: string) => void, pausedMs: number): { texts: string[]; cut: boolean } {
    vi.useFakeTimers({ toFake: ['performance'] });
    const log = liveLog();
    fs.writeFileSync(log, lines(0, 30));
    const src = new JsonFileSource(log, undefined);
    src.open();
    expect(drain(src)).toEqual(texts(0, 30));
    change(log);
    vi.advanceTimersByTime(pausedMs);
    const after = drain(src);
    src.close();
    return { texts: after, cut: src.cutInPlace };
  }

  it('reads on from the new start when the file is shorter than the read position, and says it was cut', () => {
    expect(readAround((log) => { fs.truncateSync(log, 0); fs.appendFileSync(log, lines(100, 5)); }, 0)).toEqual({ texts: texts(100, 5), cut: true });
  });

  it('finds a cut after a pause in reading even when the file has grown past the read position again', () => {
    expect(readAround((log) => { fs.truncateSync(log, 0); fs.appendFileSync(log, lines(100, 40)); }, 3000)).toEqual({ texts: texts(100, 40), cut: true });
  });

  it('reads what it had not read from the copy logrotate\'s copytruncate made before it cut the log, then the new entries, each once', () => {
    // Entries a millisecond apart: 3,000 of them make a file larger than one read chunk.
    const at = (i: number) => JSON.stringify({ log: `line ${i}\n`, stream: 'stdout', time: new Date(Date.UTC(2026, 0, 1) + i).toISOString().replace('Z', '000000Z') }) + '\n';
    const many = (from: number, n: number) => Array.from({ length: n }, (_, i) => at(from + i)).join('');
    const log = liveLog();
    fs.writeFileSync(log, many(0, 3000));
    const src = new JsonFileSource(log, undefined);
    src.open();
    // A consumer that stops after 10 entries (its buffer full): most of the file is not read yet.
    const got: string[] = [];
    src.readMore((e) => got.push(e.text), () => got.length >= 10);
    expect(src.unreadBytes()).toBeGreaterThan(50_000);
    fs.copyFileSync(log, `${log}.1`);
    fs.truncateSync(log, 0);
    fs.appendFileSync(log, many(5000, 5));
    got.push(...drain(src));
    src.close();
    expect(got).toEqual([...Array.from({ length: 3000 }, (_, i) => `line ${i}`), ...Array.from({ length: 5 }, (_, i) => `line ${5000 + i}`)]);
    expect(src.cutInPlace).toBe(true);
  });

  it('reads on where it was after a pause when nothing was cut', () => {
    expect(readAround((log) => fs.appendFileSync(log, lines(30, 10)), 3000)).toEqual({ texts: texts(30, 10), cut: false });
  });
});

describe('JsonFileSource and a damaged log', () => {
  it('ships the entry glued after NUL bytes a power loss left or after a write cut by a crash, and counts each damaged stretch', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-jf-'));
    dirs.push(dir);
    const log = path.join(dir, 'c-json.log');
    const torn = entry(3).slice(0, 30);
    // A block of the file zeroed inside an entry that otherwise keeps its shape: its text is not what was written.
    const zeroedInside = Buffer.from(entry(60).replace('line 60', 'line \\t\0\0\0\0 60'));
    // The entries after each damage come after the engine's restart: seconds later (entry(i) is i / 10 s in).
    fs.writeFileSync(log, Buffer.concat([Buffer.from(entry(0) + entry(1)), Buffer.alloc(4096), Buffer.from(entry(20) + torn + entry(40) + 'garbage\n' + entry(50)), zeroedInside, Buffer.from(entry(70))]));
    for (const viaRaw of [false, true]) {
      const src = new JsonFileSource(log, undefined);
      src.open();
      const got: string[] = [];
      const raw = viaRaw ? (b: Buffer, s: number, e: number) => { got.push(b.toString('utf8', s, e)); } : undefined;
      while (src.readMore((e) => got.push(e.text), undefined, raw));
      src.close();
      expect(got, viaRaw ? 'escaped lines' : 'decoded lines').toEqual(['line 0', 'line 1', 'line 20', 'line 40', 'line 50', 'line 70']);
      expect(src.damaged).toBe(4);
    }
  });
});

describe('JsonFileSource and a rotated file cut short', () => {
  it('reads what inflates of a compressed rotated file cut short, counts it as damaged and goes on to the live file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-jf-'));
    dirs.push(dir);
    const log = path.join(dir, 'c-json.log');
    const at = (i: number) => JSON.stringify({ log: `line ${i}\n`, stream: 'stdout', time: new Date(Date.UTC(2026, 0, 1) + i * 10).toISOString().replace('Z', '000000Z') }) + '\n';
    const gz = zlib.gzipSync(Array.from({ length: 2000 }, (_, i) => at(i)).join(''));
    fs.writeFileSync(`${log}.1.gz`, gz.subarray(0, Math.floor(gz.length / 2)));
    fs.writeFileSync(log, Array.from({ length: 5 }, (_, i) => at(3000 + i)).join(''));
    const src = new JsonFileSource(log, undefined);
    src.open();
    const got = drain(src);
    src.close();
    const firsts = got.filter((t) => Number(t.split(' ')[1]) < 2000);
    expect(firsts.length, 'the lines that inflate').toBeGreaterThan(100);
    expect(firsts, 'in order, from the first').toEqual(Array.from({ length: firsts.length }, (_, i) => `line ${i}`));
    expect(got.slice(firsts.length)).toEqual(Array.from({ length: 5 }, (_, i) => `line ${3000 + i}`));
    expect(src.damaged).toBe(1);
  });
});

describe('decodeEscapedText', () => {
  it('decodes the engine\'s escapes, and leaves a text with an escape the engine never writes as it is rather than failing', () => {
    const at = (t: string) => decodeEscapedText(Buffer.from(t), 0, Buffer.byteLength(t));
    expect(at('a\\tb \\"c\\" \\u00e9')).toBe('a\tb "c" é');
    expect(at('bad \\q escape')).toBe('bad \\q escape');
  });
});

describe('parseJsonFileLine', () => {
  // Lines are checked against JSON.parse on the engine's recorded logs in shipper-escaped.test.ts (both paths).
  it('skips what is not an entry', () => {
    expect(parseJsonFileLine('{"log":"cut off by a cra')).toBeUndefined();
    expect(parseJsonFileLine('not json')).toBeUndefined();
    expect(parseJsonFileLine('{"stream":"stdout"}')).toBeUndefined();
  });
});

describe('JsonFileSource resuming at a time', () => {
  /** Engine-format lines, times rising by 0–2 ms (often equal); every 7th a stderr line stamped up to 3 ms earlier. */
  function engineLog(n: number): { text: string; times: { sec: number; nsec: number }[] } {
    const lines: string[] = [];
    const times: { sec: number; nsec: number }[] = [];
    let ns = 0;
    let seed = 7;
    const rnd = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
    for (let i = 0; i < n; i++) {
      ns += Math.floor(rnd() * 3) * 1_000_000 + (rnd() < 0.3 ? 0 : 137);
      const at = i % 7 === 6 ? Math.max(0, ns - Math.floor(rnd() * 3_000_000)) : ns;
      const sec = 1_780_000_000 + Math.floor(at / 1e9);
      const nsec = at % 1e9;
      times.push({ sec, nsec });
      const iso = new Date(sec * 1000).toISOString().slice(0, 19) + `.${String(nsec).padStart(9, '0').replace(/0+$/, '')}Z`.replace('.Z', 'Z');
      lines.push(JSON.stringify({ log: `entry ${i} ${'x'.repeat(60)}\n`, stream: i % 7 === 6 ? 'stderr' : 'stdout', time: iso }));
    }
    return { text: lines.join('\n') + '\n', times };
  }

  /**
   * The cursor of entry `at` (its time, and how many entries in a row up to it carry that time) and the first of
   * those entries: a read resuming at the cursor hands out the file from there on, in write order (the tracker then
   * skips the `count` entries at the cursor's time).
   */
  function cursorAt(times: { sec: number; nsec: number }[], at: number) {
    const same = (i: number) => times[i]!.sec === times[at]!.sec && times[i]!.nsec === times[at]!.nsec;
    let first = at;
    while (first > 0 && same(first - 1)) first--;
    return { cursor: { time: times[at]!, count: at - first + 1 }, first };
  }
  const entriesFrom = (n: number, first: number) => Array.from({ length: n - first }, (_, k) => `entry ${first + k} ${'x'.repeat(60)}`);

  it('finds the starting point by bisection instead of reading the file from its start, and hands out exactly the entries written after the cursor\'s', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-jf-'));
    dirs.push(dir);
    const log = path.join(dir, 'c-json.log');
    const { text, times } = engineLog(100_000); // ≈ 15 MB, ≈ 3 minutes of entries
    fs.writeFileSync(log, text);
    const cmp = (a: { sec: number; nsec: number }, b: { sec: number; nsec: number }) => a.sec - b.sec || a.nsec - b.nsec;
    for (const at of [0, 1, 999, 50_000, 73_456, 99_990, 99_999]) {
      const { cursor, first } = cursorAt(times, at);
      const src = new JsonFileSource(log, cursor);
      src.open();
      const got = drain(src);
      src.close();
      expect(got, `since entry ${at}`).toEqual(entriesFrom(times.length, first));
      // From near the end: a few probes and the last seconds of entries, not 15 MB.
      if (at >= 99_990) expect(src.bytesRead, `bytes read for since entry ${at}`).toBeLessThan(4 * 1024 * 1024);
    }
    // The engine's two copiers take times before they write, so a stderr entry stamped a moment before an entry can
    // follow it in the file, and one stamped a moment after can precede it. Resuming at such an entry hands out
    // what follows it in the file (stamped earlier or not: it was written after) and nothing before it. Every such
    // entry of a smaller file.
    const small = engineLog(3000);
    fs.writeFileSync(log, small.text);
    let inversions = 0;
    for (let at = 0; at + 1 < small.times.length; at++) {
      if (cmp(small.times[at + 1]!, small.times[at]!) >= 0 && (at === 0 || cmp(small.times[at - 1]!, small.times[at]!) <= 0)) continue;
      inversions++;
      const { cursor, first } = cursorAt(small.times, at);
      const src = new JsonFileSource(log, cursor);
      src.open();
      const got = drain(src);
      src.close();
      expect(got, `since entry ${at}, next to one stamped out of order`).toEqual(entriesFrom(small.times.length, first));
    }
    expect(inversions, 'entries next to one stamped out of order').toBeGreaterThan(100);
    fs.writeFileSync(log, text);
    const whole = new JsonFileSource(log, undefined);
    whole.open();
    expect(drain(whole)).toHaveLength(100_000);
    expect(whole.bytesRead).toBe(Buffer.byteLength(text));
    whole.close();
  });
});

describe('JsonFileSource with a descriptor opened at the container start', () => {
  it('reads the whole log from it after the engine removed the container dir (a --rm container)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-jf-'));
    dirs.push(dir);
    const cdir = path.join(dir, 'c');
    fs.mkdirSync(cdir);
    const log = path.join(cdir, 'c-json.log');
    fs.writeFileSync(log, Array.from({ length: 30 }, (_, i) => entry(i)).join(''));
    const fd = fs.openSync(log, 'r');
    fs.rmSync(cdir, { recursive: true });
    const src = new JsonFileSource(log, undefined, fd);
    src.open();
    expect(drain(src)).toEqual(Array.from({ length: 30 }, (_, i) => `line ${i}`));
    src.close();
    // Owned and closed by the source.
    expect(() => fs.fstatSync(fd)).toThrow(/EBADF/);
  });

  it('is not used once the file was rotated after it was opened: every entry once, from the rotated file and the new one', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-jf-'));
    dirs.push(dir);
    const log = path.join(dir, 'c-json.log');
    fs.writeFileSync(log, Array.from({ length: 10 }, (_, i) => entry(i)).join(''));
    const fd = fs.openSync(log, 'r');
    fs.renameSync(log, `${log}.1`);
    fs.writeFileSync(log, Array.from({ length: 10 }, (_, i) => entry(i + 10)).join(''));
    const src = new JsonFileSource(log, undefined, fd);
    src.open();
    expect(drain(src)).toEqual(Array.from({ length: 20 }, (_, i) => `line ${i}`));
    src.close();
    expect(() => fs.fstatSync(fd)).toThrow(/EBADF/);
  });
});
