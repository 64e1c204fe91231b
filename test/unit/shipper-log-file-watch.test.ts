/**
 * LogFileWatch, on real files (inotify): a json-file reader that reached the end waits on it for the engine's next
 * write. Every wait below has a safety net of a minute: only the watch can end it within the test's time.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { LogFileWatch } from '../../log-shipper/log-file-watch.js';

const dirs: string[] = [];
const watches: LogFileWatch[] = [];
afterEach(() => {
  for (const w of watches.splice(0)) w.disarm();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function logFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-watch-'));
  dirs.push(dir);
  const file = path.join(dir, 'c-json.log');
  fs.writeFileSync(file, '');
  return file;
}

function armed(file: string): LogFileWatch {
  const w = new LogFileWatch();
  watches.push(w);
  expect(w.arm(file)).toBe(true);
  return w;
}

const MINUTE = 60_000;

it('ends the wait at the next write to the file', async () => {
  const file = logFile();
  const w = armed(file);
  const waited = w.wait(MINUTE, () => undefined);
  setTimeout(() => fs.appendFileSync(file, '{"log":"x\\n"}\n'), 50);
  await waited;
});

it('a write between arming and waiting is not lost: the wait ends at once', async () => {
  const file = logFile();
  const w = armed(file);
  fs.appendFileSync(file, 'written before the wait began\n');
  // inotify reports through the event loop: give it a turn, as the reader's read between arm and wait does.
  await new Promise((r) => setTimeout(r, 50));
  await w.wait(MINUTE, () => undefined);
});

it('ends the wait when the file is renamed away (a rotation)', async () => {
  const file = logFile();
  const w = armed(file);
  const waited = w.wait(MINUTE, () => undefined);
  setTimeout(() => fs.renameSync(file, `${file}.1`), 50);
  await waited;
});

it('the reader can end the wait itself (a stop, the container exited)', async () => {
  const w = armed(logFile());
  let wake: (() => void) | undefined;
  const waited = w.wait(MINUTE, (f) => { wake = f; });
  wake!();
  await waited;
});

it('after disarm, writes do not end a wait of a new arming early; a file missing for a moment is watched once it is back', async () => {
  const file = logFile();
  const w = armed(file);
  w.disarm();
  expect(w.armed).toBe(false);
  fs.appendFileSync(file, 'a line while disarmed\n');
  await new Promise((r) => setTimeout(r, 50));
  expect(w.arm(file)).toBe(true);
  const t0 = Date.now();
  await w.wait(300, () => undefined);
  expect(Date.now() - t0).toBeGreaterThanOrEqual(250);

  // No file at the path (mid-rotation): not now, but no reason to give up watching it.
  const next = path.join(path.dirname(file), 'next-json.log');
  const later = new LogFileWatch();
  watches.push(later);
  expect(later.arm(next)).toBe(false);
  expect(later.unavailable).toBeUndefined();
  fs.writeFileSync(next, '');
  expect(later.arm(next)).toBe(true);
});
