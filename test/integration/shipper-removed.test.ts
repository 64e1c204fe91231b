/**
 * Containers removed the moment they exit (`docker run -d --rm`, one-off jobs): the engine deletes the log with the
 * container. Read-mode file (the default) reads a log it has opened to its end even after the engine unlinked it,
 * so a container it got to is shipped whole; one started, run and removed before the shipper learned of it (in a
 * burst of 50, the engine answers the inspects late) is missed entirely, and that is printed, not asserted
 * (docs/log-shipper.md, "Not done"). Read-mode api can only ask the engine, which stops serving a removed
 * container's log, also mid-stream. Asserted: 10 such containers one after the other (each living a second) arrive
 * whole, and no warning blames the mount for a removed container; the burst's figures are printed.
 */
import { expect, it } from 'vitest';
import { checkSequences, counterScript, lanesBed, until } from './shipper-support.js';

const image = 'swarmwatch-test/busybox:1';
const bed = lanesBed('shiprm');
const LINES = 200;

function linesPerContainer(messages: Record<string, unknown>[]): Map<string, number> {
  const by = new Map<string, number>();
  for (const m of messages) by.set(String(m._container_name), (by.get(String(m._container_name)) ?? 0) + 1);
  return by;
}

it('ships --rm containers whole in read-mode file: all of 10 run one after the other; a burst of 50 is measured', async () => {
  const { engine } = bed;
  const lanes = await bed.startLanes(['--shipper.include-names=^rm-']);
  const file = lanes.find((l) => l.mode === 'file')!;
  const one = Array.from({ length: 10 }, (_, i) => `rm-seq-${i}`);
  // Each lives a second before it prints and exits: long enough to be discovered on a loaded runner.
  for (const name of one) await engine.docker(['run', '-d', '--rm', '--network', 'none', '--name', name, image, 'sh', '-c', `sleep 1; ${counterScript('r', LINES)}`]);
  const expectedOne = Object.fromEntries(one.map((n) => [n, LINES]));
  await until('every line of the sequential ones in read-mode file', () => checkSequences(file.receiver.messages(), expectedOne).lost === 0, 60_000, 500);

  const burst = Array.from({ length: 50 }, (_, i) => `rm-burst-${i}`);
  await Promise.all(burst.map((name) => engine.docker(['run', '-d', '--rm', '--network', 'none', '--name', name, image, 'sh', '-c', counterScript('r', LINES)])));
  await until('the burst is gone', async () => (await engine.docker(['ps', '-aq', '--filter', 'name=rm-burst-'])).stdout.trim() === '', 60_000, 500);
  await new Promise((r) => setTimeout(r, 3000));
  for (const l of lanes) {
    const by = linesPerContainer(l.receiver.messages());
    const burstSeen = burst.filter((n) => by.has(n));
    const partial = [...by].filter(([, n]) => n !== LINES);
    console.log(`--rm containers (read-mode ${l.mode}): sequential ${one.filter((n) => by.get(n) === LINES).length}/10 whole; burst of 50: ${burstSeen.length} seen, in part: ${JSON.stringify(partial)}`);
  }
  expect(checkSequences(file.receiver.messages(), expectedOne)).toEqual({ lost: 0, duplicated: 0, outOfOrder: 0, repeatRuns: 0 });
  expect(file.shipper.stderr()).not.toMatch(/read-mode file: cannot read/);
});
