/**
 * An operator short of disk empties a container's log in place (`truncate -s 0 /var/lib/docker/containers/<id>/
 * <id>-json.log`, the common answer to "docker logs fill my disk"). The engine writes with O_APPEND, so its next
 * entries go to the start of the emptied file. A reader that only reads on from its byte offset waits for the file
 * to grow past that offset again and misses everything written before, or, when the file has grown past it while
 * reading was paused (the destination down), reads on from the middle of other entries.
 */
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { startGelfReceiver } from '../receivers/gelf-receiver.js';
import { parseExposition, value } from '../support/prom-text.js';
import { lanesBed, scrapeShipper, until, type Lane } from './shipper-support.js';

const image = 'swarmwatch-test/busybox:1';
const bed = lanesBed('shiptrunc');

/** Prints "t from" … "t to-1", then waits for /tmp/<gate> in the container. */
function run(from: number, to: number, gate: string): string {
  return `i=${from}; while [ $i -lt ${to} ]; do echo "t $i"; i=$((i+1)); done; while [ ! -e /tmp/${gate} ]; do usleep 20000; done; `;
}

const numbersOf = (messages: Record<string, unknown>[], name: string) => messages.filter((m) => m._container_name === name).map((m) => Number(String(m.short_message).split(' ')[1]));

async function cutsCounted(l: Lane): Promise<number | undefined> {
  return value(parseExposition(await scrapeShipper(l.shipper)), 'swarmwatch_shipper_log_cuts_total', {});
}

it('ships the lines a container writes after its log was truncated in place, every one once, and says so (read modes api and file)', async () => {
  const { engine } = bed;
  const lanes = await bed.startLanes(['--shipper.include-names=^tr-a$']);
  // 2,000 lines, then after /tmp/go 300 more (far fewer bytes than before: the file stays shorter than the read position).
  await engine.docker(['run', '-d', '--network', 'none', '--name', 'tr-a', image, 'sh', '-c', `${run(0, 2000, 'go')} i=2000; while [ $i -lt 2300 ]; do echo "t $i"; i=$((i+1)); usleep 1000; done; exec sleep 3600`]);
  await until('the first 2,000 lines', () => lanes.every((l) => numbersOf(l.receiver.messages(), 'tr-a').length >= 2000), 30_000);
  fs.truncateSync((await engine.docker(['inspect', '-f', '{{.LogPath}}', 'tr-a'])).stdout.trim(), 0);
  await engine.docker(['exec', 'tr-a', 'sh', '-c', ': > /tmp/go']);
  await until('the 300 lines after the truncation', () => lanes.every((l) => numbersOf(l.receiver.messages(), 'tr-a').length >= 2300), 20_000, 200).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 1000));
  for (const l of lanes) {
    const numbers = numbersOf(l.receiver.messages(), 'tr-a');
    console.log(`truncated (read-mode ${l.mode}): ${numbers.length} messages, ${numbers.filter((n) => n >= 2000).length} of 300 after the truncation, ${numbers.length - new Set(numbers).size} repeated`);
    expect(new Set(numbers).size, `read-mode ${l.mode}: every line`).toBe(2300);
    expect(numbers.length, `read-mode ${l.mode}: none twice`).toBe(2300);
  }
  const file = lanes.find((l) => l.mode === 'file')!;
  expect(await cutsCounted(file)).toBe(1);
  expect(file.shipper.stderr()).toMatch(/WARN .*the log of tr-a was emptied or cut in place/);
});

it('ships every line written after a truncation that came while reading was paused and the log grew past the read position again (read modes api and file, destination down)', async () => {
  const { engine, work } = bed;
  const lanes = await bed.startLanes(['--shipper.include-names=^tr-b$', '--shipper.buffer-size=65536', '--shipper.reconnect-max-delay=1s']);
  await engine.docker(['run', '-d', '--network', 'none', '--name', 'tr-b', image, 'sh', '-c', `${run(0, 1000, 'go1')} ${run(1000, 3000, 'go2')} ${run(3000, 6000, 'never')}`]);
  await until('the first 1,000 lines', () => lanes.every((l) => numbersOf(l.receiver.messages(), 'tr-b').length >= 1000), 30_000);
  for (const l of lanes) await l.receiver.stop();
  const logPath = (await engine.docker(['inspect', '-f', '{{.LogPath}}', 'tr-b'])).stdout.trim();
  const lines = () => fs.readFileSync(logPath, 'utf8').split('\n').filter(Boolean).length;
  // 2,000 lines while the destination is down: the 64 KiB buffer fills and both readers pause inside them.
  await engine.docker(['exec', 'tr-b', 'sh', '-c', ': > /tmp/go1']);
  await until('2,000 more lines in the log', () => lines() >= 3000, 30_000, 100);
  await new Promise((r) => setTimeout(r, 2500));
  const pausedAt = fs.statSync(logPath).size;
  fs.truncateSync(logPath, 0);
  // 3,000 lines after the cut: more bytes than the readers had read, so the file is longer than their position again.
  await engine.docker(['exec', 'tr-b', 'sh', '-c', ': > /tmp/go2']);
  await until('3,000 lines after the cut', () => lines() >= 3000, 30_000, 100);
  expect(fs.statSync(logPath).size, 'the log grew past where the readers paused').toBeGreaterThan(pausedAt / 2);
  const back = await Promise.all(lanes.map(async (l) => {
    const r = await startGelfReceiver({ proto: 'tcp', port: l.receiver.port, dir: work });
    bed.receivers.push(r);
    return { l, r };
  }));
  const after = (r: { messages(): Record<string, unknown>[] }) => numbersOf(r.messages(), 'tr-b').filter((n) => n >= 3000);
  await until('the 3,000 lines after the cut', () => back.every(({ r }) => new Set(after(r)).size >= 3000), 30_000, 200).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 1000));
  for (const { l, r } of back) {
    const all = [...numbersOf(l.receiver.messages(), 'tr-b'), ...numbersOf(r.messages(), 'tr-b')];
    const beforeCut = new Set(all.filter((n) => n >= 1000 && n < 3000)).size;
    console.log(`truncated while paused (read-mode ${l.mode}): ${new Set(after(r)).size} of 3,000 lines after the cut, ${beforeCut} of 2,000 written before it while the destination was down, ${all.length - new Set(all).size} repeated`);
  }
  for (const { l, r } of back) {
    const got = after(r);
    expect(new Set(got).size, `read-mode ${l.mode}: every line after the cut`).toBe(3000);
    expect(got.length, `read-mode ${l.mode}: none twice`).toBe(3000);
  }
  const file = lanes.find((l) => l.mode === 'file')!;
  expect(await cutsCounted(file)).toBe(1);
});
