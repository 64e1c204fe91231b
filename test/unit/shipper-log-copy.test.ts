/**
 * Copying a removed container's log into the state dir (log-shipper/log-copy.ts), on real files: a deleted file
 * held open is copied whole from a descriptor of the copy's own, also when the reader closes its descriptor (and the
 * number comes back for another file) in the middle; a large copy gives the event loop turns; a cancelled copy
 * leaves nothing behind; a copy cut (a stop's time is up) keeps the whole lines it holds and says what it left out;
 * every descriptor it was given is closed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { copyLogParts, reopenDescriptor } from '../../log-shipper/log-copy.js';

const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true }); });

function workDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-logcopy-'));
  dirs.push(d);
  return d;
}

/** A file of `bytes` json-file-like lines, deleted, held open: what the reader of a removed container has. */
function deletedLog(dir: string, name: string, bytes: number): { fd: number; content: Buffer } {
  const line = Buffer.from('{"log":"a line of a removed container\\n","stream":"stdout","time":"2026-11-23T22:00:00.000000000Z"}\n');
  const content = Buffer.alloc(bytes);
  for (let off = 0; off < bytes; off += line.length) line.copy(content, off, 0, Math.min(line.length, bytes - off));
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  const fd = fs.openSync(file, 'r');
  fs.unlinkSync(file);
  return { fd, content };
}

const openDescriptors = () => fs.readdirSync('/proc/self/fd').length;

it('copies a deleted log whole from its own descriptor while the reader closes its one and the number is reused, giving the event loop turns', async () => {
  const dir = workDir();
  const rotated = deletedLog(dir, 'old-json.log.1', 3 * 1024 * 1024);
  const live = deletedLog(dir, 'live-json.log', 10 * 1024 * 1024);
  const before = openDescriptors();
  const parts = [{ fd: reopenDescriptor(rotated.fd), from: 1000 }, { fd: reopenDescriptor(live.fd), from: 0 }, { data: Buffer.from('in memory\n') }];
  // The reader is done with its files at once: closes them, and another file takes the freed numbers.
  fs.closeSync(rotated.fd);
  fs.closeSync(live.fd);
  const other = path.join(dir, 'other');
  fs.writeFileSync(other, 'not the log');
  const reused = [fs.openSync(other, 'r'), fs.openSync(other, 'r')];
  // Whether the event loop had a turn when the copy asks whether it is cancelled (at each turn it gives, and once more
  // before the rename).
  let turned = false;
  setImmediate(() => { turned = true; });
  const asked: boolean[] = [];
  const dest = path.join(dir, 'kept-json.log');
  const bytes = await copyLogParts(parts, dest, () => { asked.push(turned); return false; });
  const expected = Buffer.concat([rotated.content.subarray(1000), live.content, Buffer.from('in memory\n')]);
  expect(bytes).toEqual({ bytes: expected.length, left: 0 });
  expect(fs.readFileSync(dest).equals(expected), 'the copy is the logs from their offsets, in order').toBe(true);
  expect(asked, 'a turn of the event loop after each 4 MiB of a 13 MB copy, and before its rename').toEqual([true, true, true, true]);
  expect(fs.readdirSync(dir).sort()).toEqual(['kept-json.log', 'other']);
  for (const fd of reused) fs.closeSync(fd);
  expect(openDescriptors(), 'the copy closed the descriptors it was given').toBe(before - 2);
});

it('leaves nothing behind when cancelled, and closes its descriptors', async () => {
  const dir = workDir();
  const live = deletedLog(dir, 'live-json.log', 9 * 1024 * 1024);
  const before = openDescriptors();
  const dest = path.join(dir, 'kept-json.log');
  let asked = 0;
  expect(await copyLogParts([{ fd: reopenDescriptor(live.fd), from: 0 }], dest, () => ++asked > 1)).toBeUndefined();
  expect(asked, 'asked at a turn, and stopped there').toBe(2);
  expect(fs.readdirSync(dir), 'no copy, no temp file').toEqual([]);
  expect(openDescriptors()).toBe(before);
  fs.closeSync(live.fd);
});

it('keeps the whole lines copied so far when cut, and says how many bytes it left out', async () => {
  const dir = workDir();
  // 9 MiB is not a whole number of lines: the first slice (4 MiB) ends inside one.
  const live = deletedLog(dir, 'live-json.log', 9 * 1024 * 1024);
  const line = live.content.indexOf(10) + 1;
  expect((4 * 1024 * 1024) % line, 'the cut falls inside a line').not.toBe(0);
  const dest = path.join(dir, 'kept-json.log');
  const copied = await copyLogParts([{ fd: reopenDescriptor(live.fd), from: 0 }], dest, () => false, () => true);
  const whole = Math.floor((4 * 1024 * 1024) / line) * line;
  expect(copied).toEqual({ bytes: whole, left: live.content.length - whole });
  expect(fs.readFileSync(dest).equals(live.content.subarray(0, whole)), 'the copy is the first whole lines of the log').toBe(true);
  expect(fs.readdirSync(dir), 'no temp file').toEqual(['kept-json.log']);
  fs.closeSync(live.fd);
});
