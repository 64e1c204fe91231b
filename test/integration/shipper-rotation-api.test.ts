/**
 * Read-mode api and lines the engine rotated away before they were read. The shipper stops with a cursor in a
 * container's log; while it is down the container writes far more than `max-size=16k --max-file=2` keeps, so the
 * entry at the cursor and those after it are deleted unread. The restarted shipper's stream (`since` = cursor)
 * then begins after the cursor: it must count `rotated_before_read` and warn naming the container, as read-mode
 * file does. Control: the same stop and restart without rotation counts nothing and ships every line once.
 */
import * as path from 'node:path';
import { expect, it } from 'vitest';
import { checkSequences, droppedTotal, gatedCounterScript, shipperBed, startShipper, until, type ShipperProcess } from './shipper-support.js';

const image = 'swarmwatch-test/busybox:1';
/** Lines written before the shipper stops, and in all. */
const BEFORE = 50;
const TOTAL = 5_000;
const bed = shipperBed('shiprotapi');

async function restartShipper(): Promise<ShipperProcess> {
  await bed.shipper?.stop();
  bed.shipper = await startShipper(bed.engine.dockerHost, [`--shipper.destination=tcp://127.0.0.1:${bed.receiver.port}`,
    `--shipper.state-dir=${path.join(bed.work, 'state')}`, '--shipper.read-mode=api'], path.join(bed.work, 'shipper.log'));
  return bed.shipper;
}

const linesOf = (name: string) => bed.receiver.messages().filter((m) => m._container_name === name);
const numbersOf = (name: string) => linesOf(name).map((m) => Number(String(m.short_message).split(' ')[1]));

/**
 * Runs a gated counter, ships its first lines, stops the shipper and releases the burst. The first lines are written
 * before the shipper reads them: engine 20.10's follow stream repeats entries when the file it follows rotates
 * under it (seen here at a rotation every ≈ 80 ms), which is not what these tests are about.
 */
async function burstWhileStopped(name: string, logOpts: string[], before = BEFORE, total = TOTAL): Promise<void> {
  await bed.shipper?.stop();
  await bed.engine.docker(['run', '-d', '--network', 'none', '--name', name, ...logOpts, image, 'sh', '-c', gatedCounterScript(name, before, total)]);
  const logged = async (n: number) => (await bed.engine.docker(['logs', '--tail', '1', name])).stdout.trim() === `${name} ${n - 1}`;
  await until(`${name}'s first lines written`, () => logged(before), 10_000, 100);
  await restartShipper();
  await until(`${name}'s first lines at the receiver`, () => linesOf(name).length >= before, 15_000, 100);
  await bed.shipper!.stop();
  bed.shipper = undefined;
  await bed.engine.docker(['exec', name, 'sh', '-c', ': > /tmp/go']);
  await until(`${name}'s burst written`, () => logged(total), 10_000, 100);
}

it('a restart without rotation counts nothing and ships every line once', async () => {
  await burstWhileStopped('steady', []);
  const s = await restartShipper();
  await until('every steady line', () => linesOf('steady').length >= TOTAL, 15_000, 100);
  expect(checkSequences(linesOf('steady'), { steady: TOTAL })).toEqual({ lost: 0, duplicated: 0, outOfOrder: 0, repeatRuns: 0 });
  expect(await droppedTotal(s, 'rotated_before_read')).toBe(0);
  expect(s.stderr()).not.toMatch(/rotated past its cursor/);
});

it('lines rotated away while the shipper was down are counted, warned about, and really missing at the receiver', async () => {
  await burstWhileStopped('rotating', ['--log-opt', 'max-size=16k', '--log-opt', 'max-file=2']);
  const s = await restartShipper();
  await until('rotated_before_read counted', async () => (await droppedTotal(s, 'rotated_before_read')) > 0, 10_000, 200);
  expect(await droppedTotal(s, 'rotated_before_read')).toBe(1);
  expect(s.stderr()).toMatch(/the log of rotating was rotated past its cursor before it was read/);
  await until('the last rotating line', () => numbersOf('rotating').includes(TOTAL - 1), 10_000, 100);
  // The receiver holds the lines from before the stop and the newest ones the engine kept, not those between.
  const got = numbersOf('rotating');
  const after = got.filter((n) => n >= BEFORE);
  expect(got.filter((n) => n < BEFORE)).toEqual([...Array(BEFORE).keys()]);
  expect(Math.min(...after)).toBeGreaterThan(BEFORE);
  expect(new Set(after).size).toBe(after.length);
  // The steady container's lines were not sent again by this restart.
  expect(checkSequences(linesOf('steady'), { steady: TOTAL })).toEqual({ lost: 0, duplicated: 0, outOfOrder: 0, repeatRuns: 0 });
});

it('a cursor inside a compressed rotated file: engine 20.10 skips the rotated files after it, the log is read again from its start', async () => {
  // ≈ 220 entries per 16 KiB file: the cursor (entry 399) ends up in .2.gz, the oldest file (.3.gz) ends before it,
  // and the engine's `since` then stops at .3.gz and serves the live file only.
  const [before, total] = [400, 800];
  await burstWhileStopped('gzipped', ['--log-opt', 'max-size=16k', '--log-opt', 'max-file=5', '--log-opt', 'compress=true'], before, total);
  const s = await restartShipper();
  await until('every gzipped line', () => linesOf('gzipped').length >= total, 10_000, 100);
  await new Promise((r) => setTimeout(r, 500));
  expect(checkSequences(linesOf('gzipped'), { gzipped: total })).toEqual({ lost: 0, duplicated: 0, outOfOrder: 0, repeatRuns: 0 });
  expect(await droppedTotal(s, 'rotated_before_read')).toBe(0);
  expect(s.stderr()).toMatch(/the engine skipped rotated log files of gzipped it still has/);
});
