/**
 * A node's clock stepped back (NTP enabled on a clock that ran ahead, `date -s`, a VM resumed from a snapshot): the
 * engine stamps the entries it writes next with times before the ones already in the log. The file is still in
 * write order, so whatever follows the last shipped entry in it is new, whatever its time says.
 */
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { lanesBed, until } from './shipper-support.js';

const image = 'swarmwatch-test/busybox:1';
const bed = lanesBed('shipclock');

const numbersOf = (messages: Record<string, unknown>[], name: string) => messages.filter((m) => m._container_name === name).map((m) => Number(String(m.short_message).split(' ')[1]));

/** Nanoseconds since the epoch of an engine time (RFC 3339, up to nine fraction digits, UTC). */
function nanosOf(time: string): bigint {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(time)!;
  return BigInt(Date.parse(`${m[1]}Z`)) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/** An engine time as the engine writes it (Go's RFC3339Nano: trailing zeros of the fraction dropped). */
function engineTime(ns: bigint): string {
  const sec = ns / 1_000_000_000n;
  const frac = String(ns % 1_000_000_000n).padStart(9, '0').replace(/0+$/, '');
  return `${new Date(Number(sec) * 1000).toISOString().slice(0, 19)}${frac ? `.${frac}` : ''}Z`;
}

it('ships the lines a container wrote after the clock stepped back, while the shipper was stopped and while it ran, each once, and a restart after both repeats none (read-mode file; read-mode api as the engine does)', async () => {
  const { engine } = bed;
  const lanes = await bed.startLanes(['--shipper.include-names=^clk-']);
  await engine.docker(['run', '-d', '--network', 'none', '--name', 'clk-a', image, 'sh', '-c',
    'i=0; while [ $i -lt 1000 ]; do echo "c $i"; i=$((i+1)); done; while [ ! -e /tmp/go ]; do usleep 20000; done; i=2000; while [ $i -lt 2100 ]; do echo "c $i"; i=$((i+1)); usleep 1000; done; '
    + 'while [ ! -e /tmp/go2 ]; do usleep 20000; done; i=4000; while [ $i -lt 4100 ]; do echo "c $i"; i=$((i+1)); usleep 1000; done; exec sleep 3600']);
  const logPath = (await engine.docker(['inspect', '-f', '{{.LogPath}}', 'clk-a'])).stdout.trim();
  await until('the first 1,000 lines', () => lanes.every((l) => new Set(numbersOf(l.receiver.messages(), 'clk-a')).size >= 1000), 30_000, 200);
  for (const l of lanes) expect(await l.shipper.stop(), `read-mode ${l.mode}: the shipper stopped cleanly`).toBe(0);
  // The container is quiet (waiting for /tmp/go): what the engine would write after a step back of 60 s, 1,000
  // entries a millisecond apart, goes to the end of its own log as it would have.
  appendSteppedBack(logPath, 60, 1000, 1000);
  for (const l of lanes) l.shipper = await l.restart();
  await engine.docker(['exec', 'clk-a', 'sh', '-c', ': > /tmp/go']);
  const file = lanes.find((l) => l.mode === 'file')!;
  await until('the lines after the step', () => new Set(numbersOf(file.receiver.messages(), 'clk-a')).size >= 2100, 20_000, 200).catch(() => undefined);
  await until('the lines after the gate', () => lanes.every((l) => numbersOf(l.receiver.messages(), 'clk-a').includes(2099)), 20_000, 200);
  await new Promise((r) => setTimeout(r, 1000));
  for (const l of lanes) {
    const numbers = numbersOf(l.receiver.messages(), 'clk-a');
    console.log(`clock stepped back 60 s (read-mode ${l.mode}): ${new Set(numbers.filter((n) => n >= 1000 && n < 2000)).size} of the 1,000 lines stamped after the step, ${new Set(numbers.filter((n) => n >= 2000)).size} of 100 after them, ${numbers.length - new Set(numbers).size} repeated`);
  }
  let numbers = numbersOf(file.receiver.messages(), 'clk-a');
  expect(new Set(numbers).size, 'read-mode file: every line').toBe(2100);
  expect(numbers.length, 'read-mode file: none twice').toBe(2100);
  // The engine's logs API filters every entry by `since` (the cursor's time): those stamped before it never come.
  const api = numbersOf(lanes.find((l) => l.mode === 'api')!.receiver.messages(), 'clk-a');
  expect(api.length, 'read-mode api: none twice').toBe(new Set(api).size);

  // A second step back, 120 s, while the shipper runs: 500 entries older than everything it has read.
  appendSteppedBack(logPath, 120, 3000, 500);
  await until('the 500 lines after the second step', () => new Set(numbersOf(file.receiver.messages(), 'clk-a')).size >= 2600, 20_000, 200).catch(() => undefined);
  numbers = numbersOf(file.receiver.messages(), 'clk-a');
  console.log(`clock stepped back 120 s while running (read-mode file): ${new Set(numbers.filter((n) => n >= 3000)).size} of 500`);
  expect(new Set(numbers).size, 'read-mode file: the lines stamped after the second step').toBe(2600);

  // A restart now resumes at an entry older than most of the log before it: it repeats none of them.
  expect(await file.shipper.stop(), 'read-mode file: stopped cleanly').toBe(0);
  file.shipper = await file.restart();
  await engine.docker(['exec', 'clk-a', 'sh', '-c', ': > /tmp/go2']);
  await until('the 100 lines after the restart', () => numbersOf(file.receiver.messages(), 'clk-a').includes(4099), 20_000, 200);
  await new Promise((r) => setTimeout(r, 1000));
  numbers = numbersOf(file.receiver.messages(), 'clk-a');
  console.log(`restart after the steps (read-mode file): ${new Set(numbers.filter((n) => n >= 4000)).size} of 100 new lines, ${numbers.length - new Set(numbers).size} repeated`);
  expect(new Set(numbers).size, 'read-mode file: every line').toBe(2700);
  expect(numbers.length, 'read-mode file: none twice').toBe(2700);
});

/**
 * Appends `n` entries "c <first>" … to a quiet container's log, stamped `seconds` before its last entry and a
 * millisecond apart: what the engine writes after the clock stepped back by that much.
 */
function appendSteppedBack(logPath: string, seconds: number, first: number, n: number): void {
  const lines = fs.readFileSync(logPath, 'utf8').trimEnd().split('\n');
  const last = nanosOf((JSON.parse(lines[lines.length - 1]!) as { time: string }).time);
  let stepped = '';
  for (let i = 0; i < n; i++) stepped += `${JSON.stringify({ log: `c ${first + i}\n`, stream: 'stdout', time: engineTime(last - BigInt(seconds) * 1_000_000_000n + BigInt(i) * 1_000_000n + 1n) })}\n`;
  fs.appendFileSync(logPath, stepped);
}
