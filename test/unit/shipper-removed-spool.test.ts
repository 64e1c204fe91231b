/**
 * <state-dir>/removed/: the logs of removed containers not delivered yet. The record is written before the log, so a
 * kill -9 in the middle of a copy leaves a record with a temp log, never a whole log without its record: the whole
 * lines the temp log holds are shipped (the oldest undelivered ones), a partial last line cut off, and one without
 * any whole line is removed; a log without a record (removed by hand) is dropped with a warning, never read with a
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

it('gives back each kept log with its record, drops a log whose record is missing or broken, and clears leftovers', async () => {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-spool-'));
  dirs.push(state);
  const spool = new RemovedLogSpool(state);
  expect(spool.list(() => undefined), 'no removed/ yet').toEqual([]);
  const whole = 'a'.repeat(64);
  expect(await spool.save(recordOf(whole), async (dest) => {
    expect(fs.existsSync(path.join(spool.dir, `${whole}.json`)), 'the record is written before the log').toBe(true);
    fs.writeFileSync(dest, '{"log":"x\\n"}\n');
    return { bytes: 14, left: 0 };
  })).toEqual({ bytes: 14, left: 0 });
  expect(await spool.save(recordOf('f'.repeat(64)), async () => undefined), 'nothing open to copy, or the copy cancelled').toBeUndefined();
  const failing = 'e'.repeat(64);
  await expect(spool.save(recordOf(failing), async () => { throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }); })).rejects.toThrow(/ENOSPC/);
  expect(fs.readdirSync(spool.dir).sort(), 'no record left by a copy that found nothing or failed').toEqual([`${whole}-json.log`, `${whole}.json`]);
  // Copies cut short by a kill -9 (a record and a temp log: one ending inside a line, one without a whole line, one
  // with no temp log yet), a log whose record was removed by hand, a record that does not parse.
  const cut = 'b'.repeat(64);
  const cutEarly = '9'.repeat(64);
  const cutBeforeLog = '8'.repeat(64);
  const orphan = 'd'.repeat(64);
  const broken = 'c'.repeat(64);
  for (const id of [cut, cutEarly, cutBeforeLog]) fs.writeFileSync(path.join(spool.dir, `${id}.json`), JSON.stringify(recordOf(id)));
  fs.writeFileSync(path.join(spool.dir, `${cut}-json.log.tmp`), '{"log":"w1\\n"}\n{"log":"w2\\n"}\n{"log":"w');
  fs.writeFileSync(path.join(spool.dir, `${cutEarly}-json.log.tmp`), '{"log":"v');
  fs.writeFileSync(path.join(spool.dir, `${orphan}-json.log`), '{"log":"y\\n"}\n');
  fs.writeFileSync(path.join(spool.dir, `${broken}-json.log`), '{"log":"z\\n"}\n');
  fs.writeFileSync(path.join(spool.dir, `${broken}.json`), '{"id":');
  fs.writeFileSync(path.join(spool.dir, `${whole}.json.tmp-1-1`), '{}');
  const warnings: string[] = [];
  const kept = spool.list((m) => warnings.push(m));
  expect(kept).toEqual([{ id: whole, record: recordOf(whole) }, { id: cut, record: recordOf(cut) }]);
  expect(spool.logPathOf(whole)).toBe(path.join(spool.dir, `${whole}-json.log`));
  expect(fs.readFileSync(spool.logPathOf(cut), 'utf8'), 'the whole lines of the cut copy, its partial last line cut off').toBe('{"log":"w1\\n"}\n{"log":"w2\\n"}\n');
  expect(warnings).toHaveLength(5);
  expect(warnings.find((w) => w.includes(cut.slice(0, 12)))).toMatch(/copy of the log of removed container job-bbbb .* was cut short .*shipping the 30 bytes of whole lines it holds; what it had not delivered beyond them is lost/);
  for (const id of [cutEarly, cutBeforeLog]) expect(warnings.find((w) => w.includes(id.slice(0, 12)))).toMatch(/copy of the log .* was cut short .*what it had not delivered of that log is lost/);
  expect(warnings.find((w) => w.includes(orphan.slice(0, 12)))).toMatch(/record is missing/);
  expect(warnings.find((w) => w.includes(broken.slice(0, 12)))).toMatch(/cannot be read/);
  expect(fs.readdirSync(spool.dir).sort()).toEqual([`${cut}-json.log`, `${cut}.json`, `${whole}-json.log`, `${whole}.json`].sort());
  spool.drop(whole);
  spool.drop(cut);
  expect(fs.readdirSync(spool.dir)).toEqual([]);
});
