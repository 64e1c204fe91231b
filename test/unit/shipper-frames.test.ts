import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { RecordAssembler, ZERO_CURSOR, type LogRecord } from '../../log-shipper/assembler.js';
import { PositionTracker, type Cursor } from '../../log-shipper/cursor.js';
import { ENGINE_PIECE_BYTES, MultiplexedDecoder, parseEntry, RawLineDecoder, type LogFrame, type StreamName } from '../../log-shipper/frames.js';
import { JsonFileSource } from '../../log-shipper/json-file-source.js';
import { compareTime, formatUnixNano, parseEngineTime } from '../../log-shipper/timestamp.js';

function frame(type: number, text: string): Buffer {
  const body = Buffer.from(text);
  const h = Buffer.alloc(8);
  h[0] = type;
  h.writeUInt32BE(body.length, 4);
  return Buffer.concat([h, body]);
}

describe('engine timestamps', () => {
  it('keeps all nine fraction digits, including trimmed trailing zeros and missing fractions', () => {
    expect(parseEngineTime('2024-03-01T10:00:00.123456789Z')).toEqual({ sec: 1709287200, nsec: 123456789 });
    expect(parseEngineTime('2024-03-01T10:00:00.1Z')).toEqual({ sec: 1709287200, nsec: 100000000 });
    expect(parseEngineTime('2024-03-01T10:00:00Z')).toEqual({ sec: 1709287200, nsec: 0 });
    expect(parseEngineTime('2024-03-01T11:00:00.5+01:00')).toEqual({ sec: 1709287200, nsec: 500000000 });
    expect(parseEngineTime('not a time')).toBeUndefined();
    // The per-second cache must not leak into another second or date.
    expect(parseEngineTime('2024-03-01T10:00:01.25Z')).toEqual({ sec: 1709287201, nsec: 250000000 });
    expect(parseEngineTime('2024-03-01T10:00:01.000000001Z')).toEqual({ sec: 1709287201, nsec: 1 });
    expect(parseEngineTime('2024-03-02T10:00:01.5Z')).toEqual({ sec: 1709287201 + 86400, nsec: 500000000 });
    expect(parseEngineTime('2024-03-01T10:00:01.5Z')).toEqual({ sec: 1709287201, nsec: 500000000 });
    // Cached second (the hot path): every fraction length, and garbage after the cached prefix.
    for (let digits = 1; digits <= 9; digits++) {
      const frac = '987654321'.slice(0, digits);
      expect(parseEngineTime(`2024-03-01T10:00:01.${frac}Z`)).toEqual({ sec: 1709287201, nsec: Number(frac.padEnd(9, '0')) });
    }
    expect(parseEngineTime('2024-03-01T10:00:01.12x4Z')).toBeUndefined();
    expect(parseEngineTime('2024-03-01T10:00:01.1234567891Z')).toBeUndefined();
    expect(formatUnixNano({ sec: 1709287200, nsec: 1234 })).toBe('1709287200.000001234');
    expect(compareTime({ sec: 1, nsec: 2 }, { sec: 1, nsec: 3 })).toBeLessThan(0);
  });
});

describe('MultiplexedDecoder', () => {
  it('splits frames that straddle chunks, byte by byte', () => {
    const wire = Buffer.concat([frame(1, '2024-03-01T10:00:00.000000001Z hello\n'), frame(2, '2024-03-01T10:00:00.000000002Z oops\n'), frame(1, '2024-03-01T10:00:00.000000003Z part')]);
    const got: [StreamName, string][] = [];
    const d = new MultiplexedDecoder((s, p) => got.push([s, p.toString()]));
    for (let i = 0; i < wire.length; i++) d.push(wire.subarray(i, i + 1));
    expect(got.map((g) => g[0])).toEqual(['stdout', 'stderr', 'stdout']);
    const entries = got.map(([s, p]) => parseEntry(s, Buffer.from(p))!);
    expect(entries.map((e) => [e.text.toString(), e.partial])).toEqual([['hello', false], ['oops', false], ['part', true]]);
    expect(d.leftover).toBe(0);
  });

  it('reports an incomplete trailing frame as leftover', () => {
    const d = new MultiplexedDecoder(() => undefined);
    d.push(frame(1, '2024-03-01T10:00:00Z abc\n').subarray(0, 12));
    expect(d.leftover).toBe(12);
  });

  it('carries invalid UTF-8 as bytes (decoded later with replacement characters)', () => {
    const body = Buffer.concat([Buffer.from('2024-03-01T10:00:00Z '), Buffer.from([0xff, 0xfe, 0x41]), Buffer.from('\n')]);
    const e = parseEntry('stdout', body)!;
    expect(e.text).toEqual(Buffer.from([0xff, 0xfe, 0x41]));
    expect(e.text.toString('utf8')).toBe('\ufffd\ufffdA');
  });
});

describe('RawLineDecoder (TTY containers)', () => {
  it('splits on newlines across chunks and keeps carriage returns', () => {
    const got: string[] = [];
    const d = new RawLineDecoder((_s, p) => got.push(p.toString()));
    d.push(Buffer.from('2024-03-01T10:00:00Z a\r\n2024-03-01T10:00:00Z b'));
    d.push(Buffer.from('c\r\n2024-03-01T10:00:01Z tail'));
    d.flush();
    expect(got).toEqual(['2024-03-01T10:00:00Z a\r\n', '2024-03-01T10:00:00Z bc\r\n', '2024-03-01T10:00:01Z tail']);
    expect(parseEntry('stdout', Buffer.from(got[1]!))!.text.toString()).toBe('bc\r');
  });
});

/** Recorded from a real engine: see test/fixtures/shipper/tty-long-lines/README.md. */
const recorded = (name: string) => zlib.gunzipSync(fs.readFileSync(new URL(`../fixtures/shipper/tty-long-lines/${name}`, import.meta.url)));
const apiBytes = recorded('api-logs.bin.gz');
const jsonFileLog = recorded('json-file.log.gz');
const printed = recorded('printed.txt.gz');

/** Raw entries as RawLineDecoder hands them out, the stream pushed in chunks of `chunk` bytes. */
function rawEntries(bytes: Buffer, chunk: number): Buffer[] {
  const out: Buffer[] = [];
  const d = new RawLineDecoder((_s, p) => out.push(Buffer.from(p)));
  for (let i = 0; i < bytes.length; i += chunk) d.push(bytes.subarray(i, i + chunk));
  d.flush();
  return out;
}

/** What read-mode api does with a TTY stream (reader.ts readOnce): decoder → tracker → assembler. */
/** `killed`: the process died at the end of `bytes` (nothing pending is flushed). */
function readApi(bytes: Buffer, opts: { chunk?: number; maxBytes?: number; from?: Cursor; killed?: boolean; localDriver?: boolean } = {}): LogRecord[] {
  const records: LogRecord[] = [];
  const tracker = new PositionTracker(opts.from);
  tracker.resumeFrom(opts.from);
  const assembler = new RecordAssembler({ maxBytes: opts.maxBytes ?? 1 << 20, multilineTimeoutMs: 100, tty: true, emit: (r) => records.push(r) });
  let before: Cursor = opts.from ?? ZERO_CURSOR;
  const d = new RawLineDecoder((stream, payload) => {
    const frame = parseEntry(stream, payload, opts.localDriver)!;
    const { position, skip } = tracker.advance(frame.time);
    if (!skip) assembler.push(frame, position, before);
    before = position;
  }, opts.localDriver);
  const chunk = opts.chunk ?? bytes.length;
  for (let i = 0; i < bytes.length; i += chunk) d.push(bytes.subarray(i, i + chunk));
  if (opts.killed) return records;
  d.flush();
  assembler.flush();
  return records;
}

/** What read-mode file does with the same container's json-file log. */
function readFile(): LogRecord[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-tty-'));
  try {
    const file = path.join(dir, 'c-json.log');
    fs.writeFileSync(file, jsonFileLog);
    const records: LogRecord[] = [];
    const tracker = new PositionTracker();
    const assembler = new RecordAssembler({ maxBytes: 1 << 20, multilineTimeoutMs: 100, tty: true, emit: (r) => records.push(r) });
    const source = new JsonFileSource(file, undefined);
    source.open();
    let before: Cursor = ZERO_CURSOR;
    while (source.readMore((e) => {
      const { position } = tracker.advance(e.time);
      assembler.pushText(e.stream, e.time, e.text, e.partial, position, before);
      before = position;
    }));
    source.close();
    assembler.flush();
    return records;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The printed lines as the engine keeps them: cut into 16 KiB pieces, each stored as UTF-8 with every invalid byte
 * replaced (json-file), so a character cut in two becomes two U+FFFD.
 */
const printedLines = printed.toString('latin1').split('\n').slice(0, -1).map((l) => {
  const bytes = Buffer.from(l, 'latin1');
  const pieces: string[] = [];
  for (let i = 0; i < bytes.length; i += ENGINE_PIECE_BYTES) pieces.push(bytes.subarray(i, i + ENGINE_PIECE_BYTES).toString('utf8'));
  return pieces.join('');
});

describe('RawLineDecoder on a real TTY container\'s long lines (recorded)', () => {
  const fileEntries = jsonFileLog.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { log: string; time: string });

  for (const chunk of [apiBytes.length, 65536, 4096, 1000, 97, 31]) it(`splits the stream into exactly the engine's entries (${chunk}-byte chunks)`, () => {
    const entries = rawEntries(apiBytes, chunk).map((p) => parseEntry('stdout', p)!);
    expect(entries.map((e) => [formatUnixNano(e.time), e.text.toString('utf8'), e.partial]))
      .toEqual(fileEntries.map((e) => [formatUnixNano(parseEngineTime(e.time)!), e.log.replace(/\n$/, ''), !e.log.endsWith('\n')]));
  });

  it('rejoins every line as the container printed it (the TTY\'s \\r\\n is the line ending), as read-mode file does', () => {
    expect(printedLines.map((l) => Buffer.byteLength(l))).toEqual([9, 20000, 40000, 16383, 16384, 20005, 19391, 16429, 59, 32768, 20]);
    for (const chunk of [apiBytes.length, 4096, 97]) {
      const records = readApi(apiBytes, { chunk });
      expect(records.map((r) => r.lines)).toEqual(printedLines.map((l) => [l]));
      expect(records.map((r) => r.truncatedFromBytes)).toEqual(printedLines.map(() => undefined));
    }
    expect(readFile().map((r) => [r.lines, formatUnixNano(r.time)])).toEqual(readApi(apiBytes).map((r) => [r.lines, formatUnixNano(r.time)]));
  });

  it('rejoins them too from the `local` driver of a daemon not in UTC (timestamps with "+01:00", last pieces without a newline)', () => {
    const local = recorded('api-logs-local-berlin.bin.gz');
    expect(local.toString('latin1', 29, 36)).toBe('+01:00 ');
    // The local driver keeps the printed bytes (no U+FFFD per invalid byte): the rejoined line is the printed one.
    const printedRaw = printed.toString('latin1').split('\n').slice(0, -1).map((l) => Buffer.from(l, 'latin1').toString('utf8'));
    for (const chunk of [local.length, 4096, 97, 31]) {
      const records = readApi(local, { chunk, localDriver: true });
      expect(records.map((r) => r.lines)).toEqual(printedRaw.map((l) => [l]));
      // 2026-11-22T15:53:30+01:00 is 14:53:30 UTC.
      expect(new Date(records[0]!.time.sec * 1000).toISOString()).toBe('2026-11-22T14:53:30.000Z');
    }
  });

  it('ends a local-driver last piece of any length (0 to 16,383 bytes) at the next entry, in any chunking', () => {
    // The recorded layout: a cut line's first piece, its last piece without a newline, the next entry.
    const own = '2026-11-22T15:53:30.330354617+01:00';
    const next = '2026-11-22T15:53:30.331008203+01:00';
    for (const last of [0, 10, 16354, 16355, 16356, 16382]) {
      const stream = Buffer.from(`${own} ${'x'.repeat(ENGINE_PIECE_BYTES)}${own} ${'y'.repeat(last)}\r${next} next\r\n`);
      for (const chunk of [stream.length, 4096, 97]) {
        const frames: [number, boolean][] = [];
        const d = new RawLineDecoder((stream, payload) => {
          const f = parseEntry(stream, payload, true)!;
          frames.push([f.text.length, f.partial]);
        }, true);
        for (let i = 0; i < stream.length; i += chunk) d.push(stream.subarray(i, i + chunk));
        d.flush();
        expect(frames, `last piece ${last} bytes, ${chunk}-byte chunks`).toEqual([[ENGINE_PIECE_BYTES, true], [last + 1, false], ['next\r'.length, false]]);
      }
    }
  });

  it('takes a local-driver entry without a newline as ending its line unless it is a whole piece', () => {
    const entry = (bytes: number) => Buffer.from(`2026-11-22T14:53:30.330354617Z ${'z'.repeat(bytes)}`);
    expect(parseEntry('stdout', entry(3616), true)!.partial).toBe(false);
    expect(parseEntry('stdout', entry(ENGINE_PIECE_BYTES), true)!.partial).toBe(true);
    // json-file's pieces replace invalid bytes and can be longer; without the driver rule nothing changes.
    expect(parseEntry('stdout', entry(3616))!.partial).toBe(true);
  });

  it('ends a held local-driver last piece when asked after a quiet moment, and nothing else', () => {
    const own = '2026-11-22T15:53:30.330354617+01:00';
    const stream = Buffer.from(`${own} ${'x'.repeat(ENGINE_PIECE_BYTES)}${own} ${'y'.repeat(100)}\r`);
    for (const local of [true, false]) {
      const frames: [number, boolean][] = [];
      const d = new RawLineDecoder((s, p) => { const f = parseEntry(s, p, local)!; frames.push([f.text.length, f.partial]); }, local);
      d.push(stream);
      // The last piece has no newline and nothing follows it yet: held.
      expect(frames).toEqual([[ENGINE_PIECE_BYTES, true]]);
      expect(d.endQuietLastPiece()).toBe(local);
      expect(d.endQuietLastPiece()).toBe(false);
      if (local) expect(frames).toEqual([[ENGINE_PIECE_BYTES, true], [101, false]]);
      else expect(frames).toEqual([[ENGINE_PIECE_BYTES, true]]);
    }
  });

  it('gives a rejoined line the time of its first piece and a cursor after its last', () => {
    const records = readApi(apiBytes);
    const firstPieces = fileEntries.filter((e, i) => i === 0 || fileEntries[i - 1]!.log.endsWith('\n'));
    expect(records.map((r) => formatUnixNano(r.time))).toEqual(firstPieces.map((e) => formatUnixNano(parseEngineTime(e.time)!)));
    expect(records.map((r) => r.frames)).toEqual([1, 2, 3, 2, 2, 2, 2, 2, 1, 3, 1]);
    // Pieces of a line share its timestamp: the cursor counts them like the engine does.
    expect(records[2]!.cursor).toEqual({ time: records[2]!.time, count: 3 });
  });

  it('truncates a rejoined line at the maximum message size and marks its size', () => {
    const records = readApi(apiBytes, { maxBytes: 20_000 });
    expect(records[2]!.lines[0]).toBe(printedLines[2]!.slice(0, 20_000));
    expect(records[2]!.truncatedFromBytes).toBe(40_000);
    expect(records[1]!.lines[0]).toBe(printedLines[1]);
    expect(records[1]!.truncatedFromBytes).toBeUndefined();
  });

  it('after a restart inside a split line, the reread from its cursor ships every line once', () => {
    const raw = rawEntries(apiBytes, apiBytes.length);
    // Killed after the second of the 40,000-byte line's three pieces: that line is still pending.
    const delivered = readApi(Buffer.concat(raw.slice(0, 5)), { killed: true });
    expect(delivered.map((r) => r.lines[0])).toEqual(printedLines.slice(0, 2));
    const cursor = delivered.at(-1)!.cursor;
    // `since` is inclusive: the engine starts again at the first entry at or after the cursor's time.
    const since = raw.filter((p) => compareTime(parseEntry('stdout', p)!.time, cursor.time) >= 0);
    const second = readApi(Buffer.concat(since), { from: cursor });
    expect([...delivered, ...second].map((r) => r.lines[0])).toEqual(printedLines);
  });
});
