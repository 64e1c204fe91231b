/**
 * A node that lost power while a container logged: ext4 can leave the end of its json-file log as a run of NUL
 * bytes (the file's size was on disk, its last blocks were not), and the engine appends after them when the
 * container runs again (docker/for-linux#140: `docker logs` then fails with "invalid character '\x00'"). A write cut
 * by a crash leaves part of an entry, and the next entry is appended right after it, on the same line.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import { expect, it } from 'vitest';
import { droppedTotal, lanesBed, until } from './shipper-support.js';

const image = 'swarmwatch-test/busybox:1';
const bed = lanesBed('shipcorrupt');

/** Consecutive missing line numbers as runs (`missing` sorted). */
function missingRuns(missing: number[]): { from: number; to: number }[] {
  const runs: { from: number; to: number }[] = [];
  for (const n of missing) {
    const last = runs[runs.length - 1];
    if (last && n === last.to + 1) last.to = n;
    else runs.push({ from: n, to: n });
  }
  return runs;
}

const numbersOf = (messages: Record<string, unknown>[], name: string) => messages.filter((m) => m._container_name === name).map((m) => Number(String(m.short_message).split(' ')[1]));

it('ships the lines after a run of NUL bytes (a power loss) and after a cut write (a crash) in a container log, counting each damaged stretch (read modes api and file)', async () => {
  const { engine } = bed;
  const lanes = await bed.startLanes(['--shipper.include-names=^nul-']);
  // After each gate a second passes, as it does while a node reboots or the engine restarts after a crash.
  const run = (to: number, gate: string) => `while [ $i -lt ${to} ]; do echo "n $i"; i=$((i+1)); usleep 1000; done; while [ ! -e /tmp/${gate} ]; do usleep 20000; done; sleep 1; `;
  await engine.docker(['run', '-d', '--network', 'none', '--name', 'nul-a', image, 'sh', '-c', `i=0; ${run(500, 'go1')} ${run(1000, 'go2')} ${run(1500, 'never')}`]);
  const logPath = (await engine.docker(['inspect', '-f', '{{.LogPath}}', 'nul-a'])).stdout.trim();
  // Read-mode api may miss one line per damaged stretch (below).
  const arrived = (n: number, slack = 0) => until(`${n} lines`, () => lanes.every((l) => new Set(numbersOf(l.receiver.messages(), 'nul-a')).size >= n - (l.mode === 'api' ? slack : 0)), 20_000, 200);
  await arrived(500);
  fs.appendFileSync(logPath, Buffer.alloc(4096));
  await engine.docker(['exec', 'nul-a', 'sh', '-c', ': > /tmp/go1']);
  await arrived(1000, 1).catch(() => undefined);
  fs.appendFileSync(logPath, '{"log":"n cut\\n","stream":"stdo');
  await engine.docker(['exec', 'nul-a', 'sh', '-c', ': > /tmp/go2']);
  await arrived(1500, 2).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 1000));
  // Every lane's figures first, then the assertions: a failure shows both lanes.
  const results = lanes.map((l) => {
    const numbers = numbersOf(l.receiver.messages(), 'nul-a');
    const first = Math.min(...numbers);
    return { l, numbers, first, runs: missingRuns(Array.from({ length: 1500 }, (_, i) => first + i).filter((n) => !numbers.includes(n))) };
  });
  for (const { l, numbers, runs } of results) {
    console.log(`damaged log (read-mode ${l.mode}): ${new Set(numbers).size} of 1,500 lines, missing ${JSON.stringify(runs)}, ${numbers.length - new Set(numbers).size} repeated, unparsable_entry ${await droppedTotal(l.shipper, 'unparsable_entry')}`);
  }
  for (const { l, numbers, first, runs } of results) {
    // Read-mode api gets what the engine's logs API serves, and engine 20.10's follow reader loses lines right after
    // each damaged stretch: on a JSON syntax error it starts a new decoder on the file and drops the old one's buffer,
    // the entries it had read ahead (moby daemon/logger/jsonfilelog). How many depends on how far the engine's reader
    // was behind the container: 1 to 3 when it keeps up, 8 on a machine with 3 test files at once. So: the only
    // lines missing in read-mode api are runs that begin with the first line written after a damage (500, 1000), each
    // no longer than a read-ahead buffer of a few KiB holds (≈ 80-byte entries); every other line arrives.
    if (l.mode === 'api') {
      expect(runs.every((r) => (r.from === first + 500 || r.from === first + 1000) && r.to - r.from < 64), `read-mode api: only lines right after a damage missing, ${JSON.stringify(runs)}`).toBe(true);
    } else expect(runs, `read-mode ${l.mode}: every line`).toEqual([]);
    expect(numbers.length, `read-mode ${l.mode}: none twice`).toBe(new Set(numbers).size);
  }
  // Read-mode file saw both damaged stretches and says so; the engine's logs API (read-mode api) skips them unseen.
  const file = lanes.find((l) => l.mode === 'file')!;
  expect(await droppedTotal(file.shipper, 'unparsable_entry')).toBe(2);
  expect(file.shipper.stderr()).toMatch(/WARN .*the log of nul-a holds 1 stretch\(es\) that are no log entry/);
});

it('ships the rest of a log whose compressed rotated file was cut short, counting it (read-mode file; read-mode api as the engine does)', async () => {
  const { engine } = bed;
  // ≈ 200 entries per 16 KiB file: 600 make two compressed rotated files and the live one.
  await engine.docker(['run', '-d', '--network', 'none', '--name', 'gz-a', '--log-opt', 'max-size=16k', '--log-opt', 'max-file=3', '--log-opt', 'compress=true',
    image, 'sh', '-c', 'i=0; while [ $i -lt 600 ]; do echo "g $i"; i=$((i+1)); done; while [ ! -e /tmp/go ]; do usleep 20000; done; while [ $i -lt 700 ]; do echo "g $i"; i=$((i+1)); done; exec sleep 3600']);
  const logPath = (await engine.docker(['inspect', '-f', '{{.LogPath}}', 'gz-a'])).stdout.trim();
  await until('two compressed rotated files', () => fs.existsSync(`${logPath}.2.gz`) && fs.existsSync(`${logPath}.1.gz`) && !fs.existsSync(`${logPath}.1`), 20_000, 100);
  const firstLine = (file: string) => Number(/"log":"g (\d+)/.exec(zlib.gunzipSync(fs.readFileSync(file)).toString())![1]);
  const [oldest, middle] = [firstLine(`${logPath}.2.gz`), firstLine(`${logPath}.1.gz`)];
  const gz = fs.readFileSync(`${logPath}.1.gz`);
  fs.writeFileSync(`${logPath}.1.gz`, gz.subarray(0, Math.floor(gz.length / 2)));
  const lanes = await bed.startLanes(['--shipper.include-names=^gz-']);
  await engine.docker(['exec', 'gz-a', 'sh', '-c', ': > /tmp/go']);
  const file = lanes.find((l) => l.mode === 'file')!;
  const numbers = () => new Set(numbersOf(file.receiver.messages(), 'gz-a'));
  await until('the 100 lines after the start', () => [...numbers()].filter((n) => n >= 600).length >= 100, 20_000, 200).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 1000));
  for (const l of lanes) {
    const got = new Set(numbersOf(l.receiver.messages(), 'gz-a'));
    console.log(`compressed rotated file cut short (read-mode ${l.mode}): lines ${oldest}-${middle - 1} ${[...got].filter((n) => n >= oldest && n < middle).length} of ${middle - oldest}, from the cut file ${[...got].filter((n) => n >= middle && n < 600).length}, after the start ${[...got].filter((n) => n >= 600).length} of 100, unparsable_entry ${await droppedTotal(l.shipper, 'unparsable_entry')}`);
  }
  const got = numbers();
  expect([...got].filter((n) => n >= oldest && n < middle).length, 'the oldest rotated file whole').toBe(middle - oldest);
  expect([...got].filter((n) => n >= 600).length, 'the lines written after the start: the read went on').toBe(100);
  expect(await droppedTotal(file.shipper, 'unparsable_entry')).toBe(1);
});
