/**
 * Read-mode file's byte path: json-file lines whose log text is copied into the GELF message still escaped as the
 * engine wrote it. Checked against the general path (JSON.parse of the line, GelfEncoder.encode of the text) on
 * logs recorded from dockerd 20.10.24 and on crafted lines around the escapes it must not misread.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GelfEncoder, levelOf, shrinkEscapedMessage } from '../../log-shipper/gelf-message.js';
import { decodeEscapedText, JsonFileSource, type FileEntry } from '../../log-shipper/json-file-source.js';
import { arenaMessage, MessageArena } from '../../log-shipper/message-arena.js';
import { framedRuns, messageText, type OutMessage } from '../../log-shipper/queue.js';

const origin = { containerId: 'c', containerName: 'c', service: '' };
import { formatUnixNano, parseEngineTime, parseEngineTimeAt, writeUnixNano, type EngineTime } from '../../log-shipper/timestamp.js';

const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true }); });
const fixtures = path.join(import.meta.dirname, '../fixtures/shipper');

interface Seen {
  raw: { text: string; escaped: string; stream: string; time: EngineTime }[];
  entries: FileEntry[];
  /** Every line in file order, as the general path would have handed it out. */
  all: { text: string; partial: boolean; stream: string; time: EngineTime }[];
}

/** Everything a source hands out for a file, split by path: raw lines (decoded for comparison) and entries. */
function readBoth(file: string): Seen {
  const seen: Seen = { raw: [], entries: [], all: [] };
  const src = new JsonFileSource(file, undefined);
  src.open();
  while (src.readMore((e) => { seen.entries.push(e); seen.all.push({ text: e.text, partial: e.partial, stream: e.stream, time: e.time }); }, undefined, (b, s, e, stream, time) => {
    const text = decodeEscapedText(b, s, e);
    seen.raw.push({ text, escaped: b.toString('utf8', s, e), stream, time });
    seen.all.push({ text, partial: false, stream, time });
  }));
  src.close();
  return seen;
}

function reference(file: string): { text: string; partial: boolean; stream: string; time: EngineTime }[] {
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => {
    const o = JSON.parse(line) as { log: string; stream: string; time: string };
    const partial = !o.log.endsWith('\n');
    return { text: partial ? o.log : o.log.slice(0, -1), partial, stream: o.stream, time: parseEngineTime(o.time)! };
  });
}

function tempLog(lines: object[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-esc-'));
  dirs.push(dir);
  const file = path.join(dir, 'c-json.log');
  fs.writeFileSync(file, lines.map((l) => JSON.stringify(l) + '\n').join(''));
  return file;
}

describe('json-file lines read in place', () => {
  it('the engine\'s recorded lines: complete lines without attrs come raw, and decode to what JSON.parse reads', () => {
    const file = path.join(fixtures, 'engine-json-file-no-attrs.jsonl');
    const seen = readBoth(file);
    const ref = reference(file);
    // 12 lines: the first piece of the 20 KB line the engine split and the last line (no newline) take the
    // general path; the rest, the empty line included, come raw.
    expect(seen.raw.length).toBe(10);
    expect(seen.entries.map((e) => e.partial)).toEqual([true, true]);
    expect(seen.all, 'every line as JSON.parse reads it, in file order').toEqual(ref);
    // The engine's own escapes are kept as written: that is what the byte path copies.
    expect(seen.raw.map((r) => r.escaped)).toContain('\\u003chtml\\u003e \\u0026 tab\\u0009here');
  });

  it('lines with attrs (labels=…) all take the general path, unchanged', () => {
    const file = path.join(fixtures, 'engine-json-file.jsonl');
    const seen = readBoth(file);
    expect(seen.raw).toEqual([]);
    expect(seen.entries.map((e) => ({ text: e.text, partial: e.partial, stream: e.stream, time: e.time }))).toEqual(reference(file));
  });

  it('is not fooled by backslashes before the final n, key-like text, or a cut line', () => {
    const t = (i: number) => `2026-01-01T00:00:00.${i}Z`;
    const lines = [
      { log: 'ends with a backslash and n: \\n', stream: 'stdout', time: t(1) }, // escaped "\\\\n": no newline, partial
      { log: 'backslash then newline \\\n', stream: 'stderr', time: t(2) }, // "\\\\\\n": a newline after a backslash
      { log: 'a","stream":"stderr","time":"x"}\n', stream: 'stdout', time: t(3) },
      { log: '\n', stream: 'stdout', time: t(4) },
      { log: 'tab\t"quote" \u2028 é \ud83d\ude00\n', stream: 'stdout', time: t(5) },
    ];
    const file = tempLog(lines);
    fs.appendFileSync(file, '{"log":"cut by a crash\\n","stream":"stdout","time":"2026-01-01T00:00:00.6Z"\n');
    const seen = readBoth(file);
    expect(seen.raw.map((r) => [r.text, r.stream])).toEqual([['backslash then newline \\', 'stderr'], ['a","stream":"stderr","time":"x"}', 'stdout'], ['', 'stdout'], ['tab\t"quote" \u2028 é \ud83d\ude00', 'stdout']]);
    expect(seen.entries.map((e) => [e.text, e.partial])).toEqual([['ends with a backslash and n: \\n', true]]);
  });
});

describe('timestamps in bytes', () => {
  it('parseEngineTimeAt reads times in place across seconds, days, trimmed fractions and offsets', () => {
    const base = Date.UTC(2026, 10, 22, 13, 24, 0) / 1000;
    // In this order the one-second cache is filled, hit, missed by a second and by a day, and hit again.
    const cases: [string, { sec: number; nsec: number } | undefined][] = [
      ['2026-11-22T13:24:00.123456789Z', { sec: base, nsec: 123456789 }],
      ['2026-11-22T13:24:00.1Z', { sec: base, nsec: 100000000 }],
      ['2026-11-22T13:24:00.000000001Z', { sec: base, nsec: 1 }],
      ['2026-11-22T13:24:01.5Z', { sec: base + 1, nsec: 500000000 }],
      ['2026-11-22T13:24:01Z', { sec: base + 1, nsec: 0 }],
      ['2026-11-23T13:24:01.25Z', { sec: base + 86401, nsec: 250000000 }],
      ['2026-11-22T13:24:01.25Z', { sec: base + 1, nsec: 250000000 }],
      ['2026-11-22T15:24:01.25+02:00', { sec: base + 1, nsec: 250000000 }],
      ['2026-11-22T13:24:01.12x4Z', undefined],
      ['2026-11-22T13:24:01.1234567891Z', undefined],
      ['garbage', undefined],
    ];
    for (const [text, want] of cases) {
      const buf = Buffer.from(`xx${text}yy`);
      expect(parseEngineTimeAt(buf, 2, 2 + text.length), text).toEqual(want);
    }
    // A string beyond ASCII is no time, even where its low bytes would spell one.
    expect(parseEngineTime('2026-11-22T13:24:0\u0131.5Z')).toBeUndefined();
  });

  it('writeUnixNano writes what formatUnixNano does', () => {
    const buf = Buffer.alloc(64);
    for (const t of [{ sec: 1763817840, nsec: 5 }, { sec: 0, nsec: 0 }, { sec: 9, nsec: 999999999 }, { sec: 1763817840, nsec: 120000000 }]) {
      const end = writeUnixNano(buf, 3, t);
      expect(buf.toString('latin1', 3, end)).toBe(formatUnixNano(t));
    }
  });
});

describe('GELF messages written from escaped text', () => {
  const enc = new GelfEncoder({ _container_id: 'a'.repeat(64), _container_name: 'web.1.xyz', _command: 'sh -c "echo <é>"', _service_name: 'web' }, 'node-a');

  it('decode to the same message encode() makes of the decoded text, for every line the engine recorded', () => {
    const arena = new MessageArena(1024); // small slabs: messages cross into new ones
    const file = path.join(fixtures, 'engine-json-file-no-attrs.jsonl');
    const src = new JsonFileSource(file, undefined);
    src.open();
    let n = 0;
    while (src.readMore(() => undefined, undefined, (b, s, e, stream, time) => {
      if (e === s) return; // an empty line goes the general way (" ")
      const level = levelOf(stream);
      const m = arenaMessage(arena, enc, origin, b, s, e, level, time, { time, count: 1 });
      const ours = messageText(m);
      // Framed for stream transports: the null follows the message in the slab.
      expect(m.data![m.at + m.bytes]).toBe(0);
      const general = enc.encode({ shortMessage: decodeEscapedText(b, s, e), time, level });
      expect(JSON.parse(ours)).toEqual(JSON.parse(general));
      // The timestamp keeps every digit, as encode() writes it.
      expect(ours).toContain(`"timestamp":${formatUnixNano(time)},`);
      // The container's fields end the message, byte for byte: the UDP compressor's tail cache relies on it.
      expect(Buffer.from(ours).subarray(-enc.tailBytes).equals(Buffer.from(general).subarray(-enc.tailBytes))).toBe(true);
      n++;
    }));
    src.close();
    expect(n).toBe(9);
  });

  it('shrink cuts the decoded text to the byte limit and marks the original size, as encode() does', () => {
    const arena = new MessageArena();
    const text = 'é'.repeat(100) + ' \\u003c';
    const escaped = Buffer.from(JSON.stringify(text).slice(1, -1).replace('<', '\\u003c'));
    const time = { sec: 1763817840, nsec: 7 };
    const m = arenaMessage(arena, enc, origin, escaped, 0, escaped.length, 6, time, { time, count: 1 });
    const json = messageText(m);
    // The queued message's own shrink, as the UDP transport calls it at the 128-chunk limit.
    const cut = JSON.parse(m.shrink(51)) as Record<string, unknown>;
    const reference = JSON.parse(enc.encode({ shortMessage: 'é'.repeat(25), time, level: 6, truncatedFromBytes: Buffer.byteLength(text) })) as Record<string, unknown>;
    expect(cut).toEqual(reference);
    expect(shrinkEscapedMessage(json, 10_000)).toBe(json);
  });
});

describe('stream frames straight from the arena', () => {
  const enc = new GelfEncoder({ _container_id: 'b'.repeat(64), _container_name: 'api.1.abc' }, 'node-b');
  const time = { sec: 1763817840, nsec: 120 };
  const cursor = { time, count: 1 };
  const base = { containerId: 'c', containerName: 'c', service: '', lines: 1, tailId: 0, tailBytes: 0, time, cursor, shrink: () => '' };

  function escaped(arena: MessageArena, text: string): OutMessage {
    const src = Buffer.from(JSON.stringify(text).slice(1, -1));
    return arenaMessage(arena, enc, origin, src, 0, src.length, 6, time, cursor);
  }
  function text(json: string): OutMessage {
    return { ...base, json, data: undefined, at: 0, bytes: Buffer.byteLength(json) };
  }

  it('are every message followed by a null, in order, one view per stretch of a slab and one buffer per stretch of text messages', () => {
    const arena = new MessageArena(560); // two messages per slab (≈ 170 bytes each, and writeEscaped reserves 64 more): the third starts a new one
    const batch = [escaped(arena, 'one <a>'), escaped(arena, 'two "é"'), escaped(arena, 'three'), text('{"short_message":"four ü"}'), text('{"short_message":"five"}'), escaped(arena, 'six')];
    const runs = framedRuns(batch, 0, batch.length);
    const expected = batch.map((m) => (m.json ?? m.data!.toString('utf8', m.at, m.at + m.bytes)) + '\0').join('');
    expect(Buffer.concat(runs).toString('utf8')).toBe(expected);
    // [one two] share a slab, [three] starts the next, [four five] are text, [six] follows three in its slab but
    // not contiguously with it in the batch.
    expect(runs.map((r) => r.toString('utf8').split('\0').length - 1)).toEqual([2, 1, 2, 1]);
    expect(runs[0]!.buffer).toBe(batch[0]!.data!.buffer);
    expect(Buffer.concat(framedRuns(batch, 1, 4)).toString('utf8')).toBe(batch.slice(1, 4).map((m) => (m.json ?? m.data!.toString('utf8', m.at, m.at + m.bytes)) + '\0').join(''));
  });
});
