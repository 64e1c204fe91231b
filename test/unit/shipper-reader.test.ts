/**
 * ContainerReader in read-mode file: the catch-up slot (8 stopped containers read at once) taken for a read that
 * began with the container only created must be given back once the container runs. The read lasts as long as the
 * container runs; holding on to the slot, 8 containers created before they started blocked every other stopped
 * container's reader for their whole life.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, expect, it } from 'vitest';
import type { DockerAccess } from '../../core/docker/access.js';
import { createLogger } from '../../core/log.js';
import type { ContainerRecord } from '../../core/state/types.js';
import type { LogRecord } from '../../log-shipper/assembler.js';
import { ContainerReader, type ReaderDeps } from '../../log-shipper/reader.js';
import { until as pollUntil } from '../support/until.js';

const dirs: string[] = [];
const readers: ContainerReader[] = [];
afterEach(async () => {
  for (const r of readers.splice(0)) await r.stop();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** The shared poller, with the short timeout and interval of these in-process tests. */
const until = (what: string, fn: () => boolean, ms = 3000) => pollUntil(what, fn, ms, 20);

const line = (text: string, i: number) => JSON.stringify({ log: `${text}\n`, stream: 'stdout', time: `2026-01-01T00:00:00.${String(i).padStart(9, '0')}Z` }) + '\n';

/** A reader of `file` in read-mode file, with no engine behind it; each test adds delivery and what it watches. */
const fileReaderDeps = (container: () => ContainerRecord, file: string): Omit<ReaderDeps, 'deliver' | 'drained'> => ({
  docker: {} as DockerAccess,
  log: createLogger('test'),
  container,
  maxBytes: 1 << 20,
  multilineTimeoutMs: 1000,
  onDropped: () => undefined,
  acquireCatchUp: () => Promise.resolve(() => undefined),
  logFileOf: () => file,
});

it('gives the catch-up slot back once a container that was only created runs, and still reads all of it', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-reader-'));
  dirs.push(dir);
  const file = path.join(dir, 'c-json.log');
  fs.writeFileSync(file, '');
  const id = 'a'.repeat(64);
  let record = { id, name: 'slow-start', state: 'created', labels: {}, tty: false, logDriver: 'json-file', swarm: {} } as unknown as ContainerRecord;
  let held = 0;
  const got: string[] = [];
  const reader = new ContainerReader(id, undefined, {
    ...fileReaderDeps(() => record, file),
    deliver: (r: LogRecord) => { got.push(...r.lines); return true; },
    drained: () => Promise.resolve(),
    acquireCatchUp: () => { held++; return Promise.resolve(() => { held--; }); },
  });
  readers.push(reader);
  reader.start();
  await until('the created container to take a catch-up slot', () => held === 1);
  record = { ...record, state: 'running' };
  reader.noticeChange(record);
  fs.appendFileSync(file, line('one', 1));
  await until('the first line', () => got.length === 1);
  // Still running, still being read: the slot is free for other stopped containers.
  await until('the slot to be given back while the container runs', () => held === 0, 1000);
  fs.appendFileSync(file, line('two', 2));
  record = { ...record, state: 'exited' };
  reader.noticeChange(record);
  await until('the last line', () => got.length === 2);
  expect(got).toEqual(['one', 'two']);
  expect(held).toBe(0);
});

it('counts a log rotated away while reading was paused (delivery behind), and goes on with what is left', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-reader-'));
  dirs.push(dir);
  const file = path.join(dir, 'c-json.log');
  const write = (f: string, from: number, n: number) => fs.writeFileSync(f, Array.from({ length: n }, (_, i) => line(`l${from + i}`, from + i)).join(''));
  write(file, 0, 3);
  const id = 'b'.repeat(64);
  const record = { id, name: 'fast-logger', state: 'running', labels: {}, tty: false, logDriver: 'json-file', swarm: {} } as unknown as ContainerRecord;
  const got: string[] = [];
  const dropped: string[] = [];
  let full = true;
  let resume: () => void = () => undefined;
  const drained = new Promise<void>((resolve) => { resume = resolve; });
  const reader = new ContainerReader(id, undefined, {
    ...fileReaderDeps(() => record, file),
    // The destination is down: the buffer is full after the first record until it drains.
    deliver: (r: LogRecord) => { got.push(...r.lines); return !full; },
    drained: () => drained,
    onDropped: (reason) => { dropped.push(reason); },
  });
  readers.push(reader);
  reader.start();
  // Reading stops at the first record the full buffer took (the rest of the chunk waits).
  await until('the first record read, reading paused', () => got.length === 1);
  await new Promise((r) => setTimeout(r, 100));
  expect(got).toEqual(['l0']);
  // While paused the engine rotates twice with max-file=2: the file being read and the next one are deleted.
  fs.renameSync(file, `${file}.1`);
  write(file, 3, 3);
  fs.rmSync(`${file}.1`);
  fs.renameSync(file, `${file}.1`);
  write(file, 6, 3);
  fs.rmSync(`${file}.1`);
  fs.renameSync(file, `${file}.1`);
  write(file, 9, 3);
  full = false;
  resume();
  await until('the lines that are left', () => got.length === 9);
  expect(got).toEqual(['l0', 'l1', 'l2', 'l6', 'l7', 'l8', 'l9', 'l10', 'l11']);
  expect(dropped).toEqual(['rotated_before_read']);
});

it('stops while reading is paused on a full buffer (the destination down): SIGTERM must not wait for delivery', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-reader-'));
  dirs.push(dir);
  const file = path.join(dir, 'c-json.log');
  fs.writeFileSync(file, line('one', 1) + line('two', 2));
  const id = 'c'.repeat(64);
  const record = { id, name: 'paused', state: 'running', labels: {}, tty: false, logDriver: 'json-file', swarm: {} } as unknown as ContainerRecord;
  let delivered = 0;
  const reader = new ContainerReader(id, undefined, {
    ...fileReaderDeps(() => record, file),
    deliver: () => { delivered++; return false; },
    drained: () => new Promise<void>(() => undefined),
  });
  readers.push(reader);
  reader.start();
  await until('reading paused', () => delivered > 0);
  const stopped = await Promise.race([reader.stop().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 2000))]);
  expect(stopped).toBe(true);
});

/**
 * A started reader of one container in read-mode file whose only second look within a test is a write to the file
 * (the watch) or a change of the container: the safety-net look is a minute away. `firstLines` are in the file
 * before it starts (none: no file yet); `looks` counts the reads of the file the reader began.
 */
function watchedReader(name: string, state: string, firstLines?: string[], overrides: Partial<ReaderDeps> = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-reader-'));
  dirs.push(dir);
  const file = path.join(dir, 'c-json.log');
  if (firstLines !== undefined) fs.writeFileSync(file, firstLines.map((text, i) => line(text, i)).join(''));
  const id = name.padEnd(64, 'x');
  let record = { id, name, state, labels: {}, tty: false, logDriver: 'json-file', swarm: {} } as unknown as ContainerRecord;
  const got: string[] = [];
  const looks = { count: 0 };
  const reader = new ContainerReader(id, undefined, {
    ...fileReaderDeps(() => record, file),
    logFileOf: () => { looks.count++; return file; },
    deliver: (r: LogRecord) => { got.push(...r.lines); return true; },
    drained: () => Promise.resolve(),
    fileWatchFallbackMs: 60_000,
    ...overrides,
  });
  readers.push(reader);
  reader.start();
  const change = (fields: Partial<ContainerRecord>) => { record = { ...record, ...fields }; reader.noticeChange(record); };
  return { file, got, reader, change, looks, current: () => record };
}

/** The container stops: its read ends, and in the quiet that follows its file is not read again. */
async function expectOneReadThroughExit(w: ReturnType<typeof watchedReader>, lines: number): Promise<void> {
  w.change({ state: 'exited', finishedAt: Date.now() / 1000 });
  await until('the read to end once the container stopped', () => !w.reader.open);
  await new Promise((r) => setTimeout(r, 300));
  // One read of the file, which made its own last look after the stop; a second one parsed every line again.
  expect(w.looks.count).toBe(1);
  expect(w.got).toHaveLength(lines);
}

it('reads a quiet running container\'s next line when the engine writes it, and ends the read when the container stops', async () => {
  const { file, got, reader, change } = watchedReader('quiet', 'running', ['first']);
  await until('the first line', () => got.length === 1);
  // Let the reader reach its wait (it reads once more after arming the watch).
  await new Promise((r) => setTimeout(r, 200));
  fs.appendFileSync(file, line('second', 2));
  await until('the line written while the reader waited', () => got.length === 2);
  // A rotation (the engine renames the file and starts a new one) also wakes it; the new file is read too.
  fs.renameSync(file, `${file}.1`);
  fs.writeFileSync(file, line('third', 3));
  await until('the first line of the file after a rotation', () => got.length === 3);
  // The watch now follows the new file: a quiet line written to it later is read without the safety-net look.
  await new Promise((r) => setTimeout(r, 200));
  fs.appendFileSync(file, line('fourth', 4));
  await until('a later line of the new file', () => got.length === 4);
  // The stop is news from the engine, not a write: it must end the wait, or the read (and its reader) stays open.
  change({ state: 'exited', finishedAt: Date.now() / 1000 - 60 });
  await until('the read to end once the container stopped', () => !reader.open);
  expect(got).toEqual(['first', 'second', 'third', 'fourth']);
});

it('reads a container the model still calls "created" once its log file appears: the start event can come seconds after the container started logging', async () => {
  const { file, got } = watchedReader('late-start-event', 'created');
  await new Promise((r) => setTimeout(r, 100));
  // The engine started the container: its log file appears and fills; the model has not heard of the start.
  fs.writeFileSync(file, line('first', 1));
  await until('the first line, with the model still saying "created"', () => got.length === 1);
  fs.appendFileSync(file, line('second', 2));
  await until('the next line, read as from a running container', () => got.length === 2);
  expect(got).toEqual(['first', 'second']);
});

it('goes idle after the read that saw the container stop, without reading its whole file again', async () => {
  const w = watchedReader('exits', 'running', Array.from({ length: 1000 }, (_, i) => `l${i}`));
  await until('every line', () => w.got.length === 1000);
  await expectOneReadThroughExit(w, 1000);
});

it('stays idle after its container stopped while other containers change: the shipper shows every reader every change', async () => {
  const { got, reader, change, looks, current } = watchedReader('exits-among-others', 'created', Array.from({ length: 100 }, (_, i) => `l${i}`));
  await until('every line', () => got.length === 100);
  change({ state: 'running' });
  change({ state: 'exited', finishedAt: Date.now() / 1000 });
  await until('the read to end once the container stopped', () => !reader.open);
  // Other containers exit too: each of their inspects makes the shipper show this reader its own, unchanged record.
  for (let i = 0; i < 5; i++) {
    reader.noticeChange(current());
    await new Promise((r) => setTimeout(r, 60));
  }
  expect(looks.count).toBe(1);
  // A real change still wakes it: the container runs again and logs.
  change({ state: 'running', finishedAt: undefined });
  await until('a look at the restarted container', () => looks.count === 2);
  expect(got).toHaveLength(100);
});

it('reads a container whose start came while its read found no log file yet at the next change of any container', async () => {
  let giveSlot: (() => void) | undefined;
  // No log file yet; a catch-up slot is taken for a container not yet running, and the start comes while the
  // reader waits for it.
  const { file, got, reader, change, current } = watchedReader('started-during-read', 'created', undefined, {
    acquireCatchUp: () => new Promise((resolve) => { giveSlot = () => resolve(() => undefined); }),
  });
  await until('the reader to wait for a catch-up slot', () => giveSlot !== undefined);
  change({ state: 'running' });
  reader.wake();
  giveSlot!();
  // Its read found no file (the engine had not created it yet) and the container runs: it waits before reading again.
  await new Promise((r) => setTimeout(r, 30));
  fs.writeFileSync(file, line('first', 1));
  const changedAt = Date.now();
  // Another container's inspect: the shipper shows this reader its own record, unchanged since the start.
  reader.noticeChange(current());
  await until('the first line', () => got.length === 1);
  // Not the 500 ms pause of a running container whose stream ended.
  expect(Date.now() - changedAt).toBeLessThan(400);
});

it('does not read the whole file again after the exit because the start event came late, during the read', async () => {
  const w = watchedReader('late-start-event-then-exit', 'created', Array.from({ length: 100 }, (_, i) => `l${i}`));
  await until('every line, with the model still saying "created"', () => w.got.length === 100);
  await new Promise((r) => setTimeout(r, 100));
  // The order of the state model: the start makes the record "running" (markStarted), then the event reaches the shipper.
  w.change({ state: 'running' });
  w.reader.wake();
  await new Promise((r) => setTimeout(r, 100));
  await expectOneReadThroughExit(w, 100);
});

it('stops parsing while a whole batch waits for the sender\'s turn, and reads on at the next turn', async () => {
  // A 128 KiB read holds ≈ 1,700 of these lines: without the stop, the first read parses every one of them before
  // the sender can take a batch (with 50 readers taking their turns first, 12,000 messages were queued).
  const texts = Array.from({ length: 3000 }, (_, i) => `line ${i}`);
  const { file } = { file: path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sw-reader-')), 'c-json.log') };
  dirs.push(path.dirname(file));
  fs.writeFileSync(file, texts.map((t, i) => line(t, i)).join(''));
  const id = 'd'.repeat(64);
  const record = { id, name: 'burst', state: 'running', labels: {}, tty: false, logDriver: 'json-file', swarm: {} } as unknown as ContainerRecord;
  const got: string[] = [];
  let senderWaits = false;
  const reader = new ContainerReader(id, undefined, {
    ...fileReaderDeps(() => record, file),
    deliver: (r: LogRecord) => { got.push(...r.lines); if (got.length === 100) senderWaits = true; return true; },
    drained: () => Promise.resolve(),
    batchWaiting: () => senderWaits,
  });
  readers.push(reader);
  reader.start();
  await until('the first 100 lines', () => got.length >= 100);
  // The reader keeps taking turns while the sender "waits": it must not parse a line more.
  await new Promise((r) => setTimeout(r, 100));
  expect(got.length).toBe(100);
  senderWaits = false;
  await until('every line once the sender took its turn', () => got.length === texts.length);
  expect(got).toEqual(texts);
});

/**
 * Read-mode api and `--rm` containers: a logs request the engine gets while it removes a container makes it open the
 * log file again and the removal fail (moby#40729, reproduced on a private engine in shipper-removed.test.ts). The
 * reader asks only while the model says the container runs; `asked` records each request the reader makes.
 */
function apiReader(record: () => ContainerRecord, asked: string[]): ContainerReader {
  const docker = {
    containerLogs: (id: string) => {
      asked.push(record().state);
      const s = new PassThrough();
      s.end();
      return Promise.resolve(s);
    },
    // The engine's answer on whether it runs, as the record says (the reader asks before a --rm container's request).
    inspectContainer: () => Promise.resolve({ State: { Running: record().state === 'running' } }),
  } as unknown as DockerAccess;
  const reader = new ContainerReader('b'.repeat(64), undefined, {
    docker, log: createLogger('test'), container: record, maxBytes: 1 << 20, multilineTimeoutMs: 1000, onDropped: () => undefined,
    acquireCatchUp: () => Promise.resolve(() => undefined), deliver: () => true, drained: () => Promise.resolve(),
  });
  readers.push(reader);
  return reader;
}

it('read-mode api: asks nothing of a --rm container that stopped or is only created, and asks once it runs', async () => {
  const base = { id: 'b'.repeat(64), name: 'job', labels: {}, tty: false, logDriver: 'json-file', swarm: {} };
  const exitedAsked: string[] = [];
  const exited = apiReader(() => ({ ...base, state: 'exited', autoRemove: true }) as unknown as ContainerRecord, exitedAsked);
  exited.start();
  await exited.ended;
  expect(exitedAsked).toEqual([]);

  let job = { ...base, state: 'created', autoRemove: true } as unknown as ContainerRecord;
  const jobAsked: string[] = [];
  const reader = apiReader(() => job, jobAsked);
  reader.start();
  // Without the flag the same created container is asked at once and again after 500 ms.
  const plainAsked: string[] = [];
  apiReader(() => ({ ...base, state: 'created', autoRemove: false }) as unknown as ContainerRecord, plainAsked).start();
  await new Promise((r) => setTimeout(r, 700));
  expect(jobAsked).toEqual([]);
  expect(plainAsked.length).toBeGreaterThanOrEqual(2);
  job = { ...job, state: 'running' };
  reader.noticeChange(job);
  await until('the running job asked for its log', () => jobAsked.length > 0);
  expect(jobAsked[0]).toBe('running');
});

it('a removed container\'s reader ends only once it has read its file and its lines are delivered, also when finish() comes before start()', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-reader-'));
  dirs.push(dir);
  const file = path.join(dir, 'c-json.log');
  fs.writeFileSync(file, ['one', 'two', 'three'].map((t, i) => line(t, i)).join(''));
  const id = 'c'.repeat(64);
  const removed = { id, name: 'gone', state: 'exited', labels: {}, tty: false, logDriver: 'json-file', autoRemove: true, swarm: {} } as unknown as ContainerRecord;
  let delivered = false;
  const got: string[] = [];
  const reader = new ContainerReader(id, undefined, {
    // Unknown to the state model: all the reader knows is the record finish() gives it.
    ...fileReaderDeps(() => undefined as unknown as ContainerRecord, file),
    deliver: (r: LogRecord) => { got.push(...r.lines); return true; },
    drained: () => Promise.resolve(),
    delivered: () => delivered,
  });
  readers.push(reader);
  reader.finish(removed);
  let ended = false;
  void reader.ended.then(() => { ended = true; });
  await new Promise((r) => setTimeout(r, 50));
  expect(ended, 'ended before it started').toBe(false);
  reader.start();
  await until('the three lines', () => got.length === 3);
  // Its open file is the only copy of lines not delivered yet: the reader (and the file) stays.
  await new Promise((r) => setTimeout(r, 300));
  expect(ended, 'ended before its lines were delivered').toBe(false);
  delivered = true;
  await until('the reader to end once they are', () => ended, 1000);
  expect(got).toEqual(['one', 'two', 'three']);
});

it('reads a container that logs flat out in chunks, not one engine write per read, once it has caught up', async () => {
  // Deliveries in one turn of the event loop come from one read.
  const lines: string[] = [];
  let reads = 0;
  let inRead = false;
  const deliver = (r: LogRecord) => {
    if (!inRead) { reads++; inRead = true; setImmediate(() => { inRead = false; }); }
    lines.push(...r.lines);
    return true;
  };
  const { file } = watchedReader('flat-out', 'running', ['first'], { deliver });
  await until('the first line', () => lines.length === 1);
  const readsBefore = reads;
  // The engine writes a line every millisecond or so, as a container printing flat out in small writes.
  let i = 1;
  const writer = setInterval(() => { fs.appendFileSync(file, line(`line ${i}`, i)); i++; }, 1);
  await new Promise((r) => setTimeout(r, 600));
  clearInterval(writer);
  await until('every line written', () => lines.length === i);
  const n = lines.length - 1;
  const made = reads - readsBefore;
  // A reader that reads each write as it comes makes about one read per line; one that lets them gather reads
  // ≈ 10 ms of writes at a time.
  expect(n / made, `${n} lines in ${made} reads`).toBeGreaterThanOrEqual(3);
});
