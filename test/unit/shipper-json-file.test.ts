import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { JsonFileSource, parseJsonFileLine, type FileEntry } from '../../log-shipper/json-file-source.js';

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
    const since = new JsonFileSource(log, { sec: Date.UTC(2026, 0, 1) / 1000 + 1, nsec: 5 });
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

describe('JsonFileSource rotation gaps', () => {
  it('flags a cursor whose file was rotated away before it was read', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-jf-'));
    dirs.push(dir);
    const log = path.join(dir, 'c-json.log');
    fs.writeFileSync(`${log}.1`, Array.from({ length: 10 }, (_, i) => entry(i + 50)).join(''));
    fs.writeFileSync(log, entry(60));
    const behind = new JsonFileSource(log, { sec: Date.UTC(2026, 0, 1) / 1000 + 1, nsec: 0 });
    behind.open();
    expect(behind.rotatedAway).toBe(true);
    expect(drain(behind)[0]).toBe('line 50');
    behind.close();
    const current = new JsonFileSource(log, { sec: Date.UTC(2026, 0, 1) / 1000 + 5, nsec: 5 });
    current.open();
    expect(current.rotatedAway).toBe(false);
    current.close();
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
