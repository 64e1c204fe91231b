/**
 * <state-dir>/removed/: the logs of removed containers a stop could not deliver. The log is written before its
 * record, so a log without a record is what a stop cut short left: it is dropped with a warning, never read with a
 * made-up record; the next start gets every whole entry back.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { ContainerRecord } from '../../core/state/types.js';
import { RemovedLogSpool } from '../../log-shipper/removed-spool.js';

const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true }); });

const recordOf = (id: string) => ({ id, name: `job-${id.slice(0, 4)}`, state: 'exited', labels: { 'com.example': 'x' }, logDriver: 'json-file', swarm: {} }) as unknown as ContainerRecord;

it('gives back each kept log with its record, drops a log whose record is missing or broken, and clears leftovers', () => {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-spool-'));
  dirs.push(state);
  const spool = new RemovedLogSpool(state);
  expect(spool.list(() => undefined), 'no removed/ yet').toEqual([]);
  const whole = 'a'.repeat(64);
  expect(spool.save(recordOf(whole), (dest) => { fs.writeFileSync(dest, '{"log":"x\\n"}\n'); return 14; })).toBe(14);
  expect(spool.save(recordOf('f'.repeat(64)), () => undefined), 'nothing open to copy').toBeUndefined();
  // A stop cut short between the log and its record, a record that does not parse, a temp file.
  const cut = 'b'.repeat(64);
  const broken = 'c'.repeat(64);
  fs.writeFileSync(path.join(spool.dir, `${cut}-json.log`), '{"log":"y\\n"}\n');
  fs.writeFileSync(path.join(spool.dir, `${broken}-json.log`), '{"log":"z\\n"}\n');
  fs.writeFileSync(path.join(spool.dir, `${broken}.json`), '{"id":');
  fs.writeFileSync(path.join(spool.dir, `${whole}.json.tmp`), '{}');
  const warnings: string[] = [];
  const kept = spool.list((m) => warnings.push(m));
  expect(kept).toEqual([{ id: whole, record: recordOf(whole) }]);
  expect(spool.logPathOf(whole)).toBe(path.join(spool.dir, `${whole}-json.log`));
  expect(warnings).toHaveLength(2);
  expect(warnings.find((w) => w.includes(cut.slice(0, 12)))).toMatch(/record is missing \(the stop that wrote it was cut short\)/);
  expect(warnings.find((w) => w.includes(broken.slice(0, 12)))).toMatch(/cannot be read/);
  expect(fs.readdirSync(spool.dir).sort()).toEqual([`${whole}-json.log`, `${whole}.json`]);
  spool.drop(whole);
  expect(fs.readdirSync(spool.dir)).toEqual([]);
});
