/**
 * An operator short of disk empties a container's log in place (`truncate -s 0 /var/lib/docker/containers/<id>/
 * <id>-json.log`, the common answer to "docker logs fill my disk"). The engine writes with O_APPEND, so its next
 * entries go to the start of the emptied file. A reader that only reads on from its byte offset waits for the file
 * to grow past that offset again and misses everything written before, or, when the file has grown past it while
 * reading was paused (the destination down), reads on from the middle of other entries. logrotate's `copytruncate`
 * (an older recipe for Docker logs) copies the log to `<log>.1` first: what was not read yet is there.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
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

/**
 * Container `name` prints 1,000 lines (shipped), then 2,000 more while both lanes' receivers are down (the 64 KiB
 * buffer fills and the readers pause inside them), stays quiet while `cut` acts on its log, then prints `after`
 * more lines (numbered from 3,000); the receivers come back on their ports. Returns the lanes with the new receivers.
 */
async function cutDuringOutage(name: string, cut: (logPath: string) => void, after: number) {
  const { engine, work } = bed;
  const lanes = await bed.startLanes([`--shipper.include-names=^${name}$`, '--shipper.buffer-size=65536', '--shipper.reconnect-max-delay=1s']);
  await engine.docker(['run', '-d', '--network', 'none', '--name', name, image, 'sh', '-c', `${run(0, 1000, 'go1')} ${run(1000, 3000, 'go2')} ${run(3000, 3000 + after, 'never')}`]);
  await until('the first 1,000 lines', () => lanes.every((l) => numbersOf(l.receiver.messages(), name).length >= 1000), 30_000);
  for (const l of lanes) await l.receiver.stop();
  const logPath = (await engine.docker(['inspect', '-f', '{{.LogPath}}', name])).stdout.trim();
  const lines = () => fs.readFileSync(logPath, 'utf8').split('\n').filter(Boolean).length;
  await engine.docker(['exec', name, 'sh', '-c', ': > /tmp/go1']);
  await until('2,000 more lines in the log', () => lines() >= 3000, 30_000, 100);
  // Longer than the pause after which a reader checks the bytes before its position.
  await new Promise((r) => setTimeout(r, 2500));
  const pausedAt = fs.statSync(logPath).size;
  cut(logPath);
  expect(lines(), 'the log was cut').toBe(0);
  await engine.docker(['exec', name, 'sh', '-c', ': > /tmp/go2']);
  await until(`${after} lines after the cut`, () => lines() >= after, 30_000, 100);
  const back = await Promise.all(lanes.map(async (l) => {
    const r = await startGelfReceiver({ proto: 'tcp', port: l.receiver.port, dir: work });
    bed.receivers.push(r);
    return { l, r };
  }));
  return { back, pausedAt, grownTo: fs.statSync(logPath).size };
}

it('ships every line written after a truncation that came while reading was paused and the log grew past the read position again (read modes api and file, destination down)', async () => {
  // 3,500 lines after the cut, of the same length as the 3,000 before it: the file grows longer than it was at the
  // cut, so past any position a reader paused at.
  const { back, pausedAt, grownTo } = await cutDuringOutage('tr-b', (logPath) => fs.truncateSync(logPath, 0), 3500);
  expect(grownTo, 'the log grew past where the readers paused').toBeGreaterThan(pausedAt);
  const after = (r: { messages(): Record<string, unknown>[] }) => numbersOf(r.messages(), 'tr-b').filter((n) => n >= 3000);
  await until('the 3,500 lines after the cut', () => back.every(({ r }) => new Set(after(r)).size >= 3500), 30_000, 200).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 1000));
  for (const { l, r } of back) {
    const all = [...numbersOf(l.receiver.messages(), 'tr-b'), ...numbersOf(r.messages(), 'tr-b')];
    const beforeCut = new Set(all.filter((n) => n >= 1000 && n < 3000)).size;
    console.log(`truncated while paused (read-mode ${l.mode}): ${new Set(after(r)).size} of 3,500 lines after the cut, ${beforeCut} of 2,000 written before it while the destination was down, ${all.length - new Set(all).size} repeated`);
  }
  for (const { l, r } of back) {
    const got = after(r);
    expect(new Set(got).size, `read-mode ${l.mode}: every line after the cut`).toBe(3500);
    expect(got.length, `read-mode ${l.mode}: none twice`).toBe(3500);
  }
  expect(await cutsCounted(back.find((b) => b.l.mode === 'file')!.l)).toBe(1);
});

it('ships every line of a log rotated by logrotate\'s copytruncate while reading was paused: the unread ones from the copy, then the new ones, each once (read-mode file, destination down)', async () => {
  const { work } = bed;
  const { back } = await cutDuringOutage('tr-c', (logPath) => {
    const conf = path.join(work, 'logrotate.conf');
    fs.writeFileSync(conf, `${logPath} {\n  copytruncate\n  rotate 1\n  missingok\n}\n`);
    execFileSync('logrotate', ['-f', '-s', path.join(work, 'logrotate.state'), conf]);
    expect(fs.statSync(`${logPath}.1`).size, 'logrotate made its copy').toBeGreaterThan(0);
  }, 1000);
  const notDelivered = (r: { messages(): Record<string, unknown>[] }) => numbersOf(r.messages(), 'tr-c').filter((n) => n >= 1000);
  const file = back.find((b) => b.l.mode === 'file')!;
  await until('the 3,000 lines not delivered before the outage', () => new Set(notDelivered(file.r)).size >= 3000, 30_000, 200).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 1000));
  for (const { l, r } of back) {
    const got = notDelivered(r);
    console.log(`copytruncate while paused (read-mode ${l.mode}): ${new Set(got.filter((n) => n < 3000)).size} of 2,000 lines written before the cut, ${new Set(got.filter((n) => n >= 3000)).size} of 1,000 after it, ${got.length - new Set(got).size} repeated`);
  }
  const got = notDelivered(file.r);
  expect(new Set(got).size, 'read-mode file: every line from the outage on').toBe(3000);
  expect(got.length, 'read-mode file: none twice').toBe(3000);
  expect(await cutsCounted(file.l)).toBe(1);
});
