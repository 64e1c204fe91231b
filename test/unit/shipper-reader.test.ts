/**
 * ContainerReader in read-mode file: the catch-up slot (8 stopped containers read at once) taken for a read that
 * began with the container only created must be given back once the container runs. The read lasts as long as the
 * container runs; holding on to the slot, 8 containers created before they started blocked every other stopped
 * container's reader for their whole life.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { DockerAccess } from '../../core/docker/access.js';
import { createLogger } from '../../core/log.js';
import type { ContainerRecord } from '../../core/state/types.js';
import type { LogRecord } from '../../log-shipper/assembler.js';
import { ContainerReader } from '../../log-shipper/reader.js';

const dirs: string[] = [];
const readers: ContainerReader[] = [];
afterEach(async () => {
  for (const r of readers.splice(0)) await r.stop();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const until = async (what: string, fn: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

const line = (text: string, i: number) => JSON.stringify({ log: `${text}\n`, stream: 'stdout', time: `2026-01-01T00:00:00.${String(i).padStart(9, '0')}Z` }) + '\n';

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
    docker: {} as DockerAccess,
    log: createLogger('test'),
    container: () => record,
    maxBytes: 1 << 20,
    multilineTimeoutMs: 1000,
    deliver: (r: LogRecord) => { got.push(...r.lines); return true; },
    drained: () => Promise.resolve(),
    onDropped: () => undefined,
    acquireCatchUp: () => { held++; return Promise.resolve(() => { held--; }); },
    logFileOf: () => file,
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
