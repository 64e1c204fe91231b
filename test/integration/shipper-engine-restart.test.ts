/**
 * The Docker socket vanishes under the shipper: dockerd (with its containerd) is kill -9'd while a container keeps
 * logging, and comes back 6 s later with `--live-restore`, as an operator's engine upgrade or a daemon crash does on
 * a node where containers survive the daemon. While it is down the container's output waits in its fifo (the shim
 * holds it); the restored daemon writes it on. Both read modes run side by side (one shipper and receiver each):
 * api follows the logs API, whose stream breaks with the daemon and must resume from the cursor; file reads the
 * json-file log, which the restored daemon appends to. A container started after the engine returns shows that
 * discovery came back too. Expected: every line exactly once and in order, one clear error line naming the engine
 * (a logs stream that broke is a warning: the reader resumes it), no crash. Checked against a reader that resumes
 * without skipping what it had shipped at the cursor's time: 879 lines repeated in read-mode api.
 */
import { expect, it } from 'vitest';
import { checkSequences, countLoggedLines, counterScript, lanesBed, streamUntilStopScript, until } from './shipper-support.js';

const image = 'swarmwatch-test/busybox:1';
const bed = lanesBed('shipeng', ['--live-restore']);

it('loses and repeats nothing when the engine is killed and comes back (live-restore), with one error line naming it (read modes api and file)', async () => {
  const { engine } = bed;
  const lanes = await bed.startLanes(['--shipper.include-names=^eng-']);
  // ≈ 500 lines/s until told to stop; while the daemon is away they wait in the container's fifo.
  await engine.docker(['run', '-d', '--network', 'none', '--name', 'eng-a', image, 'sh', '-c', streamUntilStopScript('a', 50, 100_000)]);
  await until('the first lines in both modes', () => lanes.every((l) => l.receiver.stats().messages > 300), 30_000);

  await engine.kill({ keepContainers: true });
  const downAt = Date.now();
  await until('both shippers to notice the engine is gone', () => lanes.every((l) => l.shipper.stderr().includes('Docker engine unreachable')), 20_000);
  await new Promise((r) => setTimeout(r, Math.max(0, 6000 - (Date.now() - downAt))));
  await engine.start();
  const ps = await engine.docker(['ps', '--format', '{{.Names}}']);
  expect(ps.stdout.split('\n'), 'live-restore kept the container running').toContain('eng-a');

  // Started after the engine came back: found through the resumed events stream (or the next reconcile).
  await engine.docker(['run', '-d', '--network', 'none', '--name', 'eng-b', image, 'sh', '-c', counterScript('b', 2000, 100, 20_000)]);
  await new Promise((r) => setTimeout(r, 3000));
  await engine.docker(['exec', 'eng-a', 'sh', '-c', ': > /tmp/stop']);
  await engine.docker(['wait', 'eng-a', 'eng-b'], { timeoutMs: 60_000 });
  const expected = { 'eng-a': await countLoggedLines(engine, 'eng-a'), 'eng-b': await countLoggedLines(engine, 'eng-b') };
  expect(expected['eng-b']).toBe(2000);

  await until('every line in both modes', () => lanes.every((l) => checkSequences(l.receiver.messages(), expected).lost === 0), 60_000, 500);
  await new Promise((r) => setTimeout(r, 1500)); // a repeat would come right behind the last line
  for (const l of lanes) {
    const result = checkSequences(l.receiver.messages(), expected);
    const errors = l.shipper.stderr().split('\n').filter((line) => / ERROR /.test(line));
    console.log(`engine killed for 6 s (read-mode ${l.mode}): ${JSON.stringify(expected)} lines written,`, result, `error lines:\n${errors.join('\n')}`);
    expect(result, `read-mode ${l.mode}`).toEqual({ lost: 0, duplicated: 0, outOfOrder: 0, repeatRuns: 0 });
    expect(errors, `read-mode ${l.mode}: one error line, for the engine`).toHaveLength(1);
    expect(errors[0]).toContain(`Docker engine unreachable at unix://${engine.socketPath}`);
    expect(l.shipper.stderr()).toContain('Docker engine reachable');
    expect(l.shipper.child.exitCode).toBeNull();
  }
});
