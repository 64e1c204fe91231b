/**
 * The container events the shipper follows besides start and die: `docker restart`, restarts by a restart policy,
 * and `docker rename`. A restarted container keeps its id and appends to the same log, so its reader must go on from
 * its cursor, neither re-shipping the earlier runs nor missing the new one; a renamed container's later lines carry
 * its new name (the driver's `_container_name` is the name at the time of the line). Each container keeps a counter
 * in its own file system, so every run prints the numbers after the previous run's: one sequence per container that
 * must arrive whole, once and in order. The rename comes while the container runs, between two of its runs of lines
 * (no restart in between): only the rename event can tell the shipper. Both read modes side by side.
 */
import { expect, it } from 'vitest';
import { parseExposition } from '../support/prom-text.js';
import { checkSequences, lanesBed, scrapeShipper, until } from './shipper-support.js';

const image = 'swarmwatch-test/busybox:1';
const bed = lanesBed('shipevents');
const PER_RUN = 300;

/** Prints "<tag> n" … "<tag> n+PER_RUN-1", n carried over from the previous run in /tmp/n; then `then`. */
function runOnceScript(tag: string, then: string): string {
  return `n=$(cat /tmp/n 2>/dev/null || echo 0); i=$n; while [ $i -lt $((n + ${PER_RUN})) ]; do echo "${tag} $i"; i=$((i+1)); done; echo $i > /tmp/n; ${then}`;
}

it('follows docker restart, restart-policy restarts and a rename: every run\'s lines once and in order, later lines under the new name (read modes api and file)', async () => {
  const { engine } = bed;
  const lanes = await bed.startLanes(['--shipper.include-names=^ev-']);
  const got = (name: string) => lanes.every((l) => l.receiver.messages().filter((m) => m._container_name === name).length >= PER_RUN);

  // Exits 1 after each run: the engine restarts it twice (three runs).
  await engine.docker(['run', '-d', '--network', 'none', '--restart', 'on-failure:2', '--name', 'ev-policy', image, 'sh', '-c', runOnceScript('p', 'exit 1')]);
  // A run at each start, and one more when /tmp/go appears.
  const manualRun = runOnceScript('m', '');
  await engine.docker(['run', '-d', '--network', 'none', '--name', 'ev-manual', image, 'sh', '-c', `${manualRun} while [ ! -e /tmp/go ]; do usleep 20000; done; ${manualRun} exec sleep 3600`]);
  await until('the first run of ev-manual', () => got('ev-manual'), 30_000);
  await engine.docker(['restart', '-t', '1', 'ev-manual']);
  await until('its second run', () => lanes.every((l) => l.receiver.messages().filter((m) => m._container_name === 'ev-manual').length >= 2 * PER_RUN), 30_000);
  await engine.docker(['rename', 'ev-manual', 'ev-renamed']);
  await engine.docker(['exec', 'ev-renamed', 'sh', '-c', ': > /tmp/go']);
  await until('the run after the rename', () => got('ev-renamed'), 30_000);
  await until('the third run of ev-policy', () => lanes.every((l) => l.receiver.messages().filter((m) => m._container_name === 'ev-policy').length >= 3 * PER_RUN), 60_000);
  const restarts = (await engine.docker(['inspect', '-f', '{{.RestartCount}}', 'ev-policy'])).stdout.trim();
  expect(restarts, 'the restart policy restarted ev-policy twice').toBe('2');
  await new Promise((r) => setTimeout(r, 1500)); // a repeat would come right behind the last line

  for (const l of lanes) {
    const messages = l.receiver.messages();
    const manual = messages.filter((m) => String(m.short_message).startsWith('m '));
    const oldName = manual.filter((m) => m._container_name === 'ev-manual').map((m) => Number(String(m.short_message).split(' ')[1]));
    const newName = manual.filter((m) => m._container_name === 'ev-renamed').map((m) => Number(String(m.short_message).split(' ')[1]));
    const result = checkSequences(messages.map((m) => ({ ...m, _container_name: String(m.short_message).startsWith('m ') ? 'manual' : m._container_name })), { manual: 3 * PER_RUN, 'ev-policy': 3 * PER_RUN });
    console.log(`container events (read-mode ${l.mode}):`, result, `ev-manual lines ${oldName.length}, ev-renamed lines ${newName.length}`);
    expect(result, `read-mode ${l.mode}`).toEqual({ lost: 0, duplicated: 0, outOfOrder: 0, repeatRuns: 0 });
    // The two runs before the rename carry the old name, the one after it (same process, no restart) the new one.
    expect(Math.max(...oldName), `read-mode ${l.mode}`).toBe(2 * PER_RUN - 1);
    expect(Math.min(...newName), `read-mode ${l.mode}`).toBe(2 * PER_RUN);
    expect(newName, `read-mode ${l.mode}`).toHaveLength(PER_RUN);
    // The per-container lag follows the rename: one series, under the new name.
    const lag = parseExposition(await scrapeShipper(l.shipper)).filter((x) => x.name === 'swarmwatch_shipper_lag_seconds').map((x) => x.labels.container_name).sort();
    expect(lag, `read-mode ${l.mode}`).toEqual(['ev-policy', 'ev-renamed']);
  }
});
