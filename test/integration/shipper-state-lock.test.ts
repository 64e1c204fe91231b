/**
 * Two shippers on one state dir, as a start-first update of the service gives them (the new task runs before the
 * old one stops) or an agent and a log-shipper sharing a volume: the second must not ship anything while the first
 * holds the dir (it would send every line again and overwrite the first's cursors), must keep its endpoints up,
 * and must take over when the first stops. A container logs throughout: every line once and in order, both modes.
 */
import { expect, it } from 'vitest';
import { finishStream, lanesBed, scrapeShipper, streamUntilStopScript, until } from './shipper-support.js';

const image = 'swarmwatch-test/busybox:1';
const bed = lanesBed('shiplock');

it('a second shipper on the same state dir waits for the first to stop, then takes over: every line once (read modes api and file)', async () => {
  const { engine } = bed;
  const lanes = await bed.startLanes(['--shipper.include-names=^lk-']);
  await engine.docker(['run', '-d', '--network', 'none', '--name', 'lk-a', image, 'sh', '-c', streamUntilStopScript('k', 100, 100_000)]);
  await until('lines flowing', () => lanes.every((l) => l.receiver.stats().messages > 500), 30_000);
  const seconds = await Promise.all(lanes.map((l) => l.restart()));
  await new Promise((r) => setTimeout(r, 2000));
  for (const [i, second] of seconds.entries()) {
    expect(second.stderr(), lanes[i]!.mode).toMatch(/WARN .*another log shipper is using the state dir \S+ \(its lock file is held\): waiting for it to stop/);
    expect(second.stderr(), lanes[i]!.mode).not.toMatch(/shipping container logs to/);
    // Its endpoints answer while it waits (a start-first update checks the new task before stopping the old).
    expect(await scrapeShipper(second), lanes[i]!.mode).toMatch(/swarmwatch_shipper_lines_total|# HELP/);
  }
  await Promise.all(lanes.map(async (l, i) => {
    expect(await l.shipper.stop(), l.mode).toBe(0);
    l.shipper = seconds[i]!;
  }));
  await until('the second shippers took over', () => lanes.every((l) => /the state dir \S+ is free: shipping/.test(l.shipper.stderr())), 30_000);
  await new Promise((r) => setTimeout(r, 1500));
  const { written, results } = await finishStream(engine, lanes, 'lk-a');
  for (const [l, result] of results) {
    console.log(`two shippers on one state dir (read-mode ${l.mode}): ${written} lines,`, result);
    expect(result, `read-mode ${l.mode}`).toEqual({ lost: 0, duplicated: 0, outOfOrder: 0, repeatRuns: 0 });
  }
});
