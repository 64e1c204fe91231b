/**
 * A destination given by host name follows that name when it moves (Docker's gelf driver resolves it once, at
 * container start: moby#17904). Each shipper runs in a mount namespace of its own whose /etc/hosts is a file of this
 * test (bind-mounted; the machine's own is untouched), so the test can move the name: first to a receiver on
 * 127.0.0.1, then to one on 127.0.0.2 at the same port. Over TCP the shipper must reconnect to the new address after
 * the batch in flight, over UDP send there from the next resolve on; both with `shipper.resolve-interval=1s`. Every
 * line arrives once, in order, at the old receiver before the move and the new one after it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect, it } from 'vitest';
import { startGelfReceiver, type GelfReceiver } from '../receivers/gelf-receiver.js';
import { checkSequences, counterScript, lanesBed, startShipper, until } from './shipper-support.js';

const image = 'swarmwatch-test/busybox:1';
const bed = lanesBed('shipresolve');
const NAME = 'gelf.swarmwatch.test';
const LINES = 6000;

it('follows a destination host name to its new address (TCP and UDP)', async () => {
  const { engine, receivers, shippers, work } = bed;
  const hostsFile = path.join(work, 'hosts');
  const pointAt = (address: string) => fs.writeFileSync(hostsFile, `127.0.0.1 localhost\n${address} ${NAME}\n`); // same inode: the bind mount sees it
  pointAt('127.0.0.1');
  const inOwnHosts = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hostsFile];

  const lanes: { proto: 'tcp' | 'udp'; before: GelfReceiver; after: GelfReceiver; name: string; log: string }[] = [];
  for (const proto of ['tcp', 'udp'] as const) {
    const before = await startGelfReceiver({ proto, host: '127.0.0.1', dir: work });
    const after = await startGelfReceiver({ proto, host: '127.0.0.2', port: before.port, dir: work });
    receivers.push(before, after);
    const name = `res-${proto}`;
    shippers.push(await startShipper(engine.dockerHost, [`--shipper.destination=${proto}://${NAME}:${before.port}`, `--shipper.state-dir=${path.join(work, `state-${proto}`)}`,
      `--shipper.include-names=^${name}$`, '--shipper.resolve-interval=1s', '--shipper.compression=none'], path.join(work, `shipper-${proto}.log`), inOwnHosts));
    lanes.push({ proto, before, after, name, log: path.join(work, `shipper-${proto}.log`) });
  }
  // ≈ 500 lines/s for ≈ 12 s each.
  for (const l of lanes) await engine.docker(['run', '-d', '--network', 'none', '--name', l.name, image, 'sh', '-c', counterScript('r', LINES, 50, 100_000)]);
  await until('lines at the first address', () => lanes.every((l) => l.before.stats().messages > 500), 30_000);
  pointAt('127.0.0.2');
  await until('lines at the new address', () => lanes.every((l) => l.after.stats().messages > 500), 15_000);
  await engine.docker(['wait', ...lanes.map((l) => l.name)], { timeoutMs: 60_000 });
  const all = (l: (typeof lanes)[number]) => [...l.before.messages(), ...l.after.messages()].filter((m) => m._container_name === l.name);
  await until('every line', () => lanes.every((l) => checkSequences(all(l), { [l.name]: LINES }).lost === 0), 30_000, 500);
  await new Promise((r) => setTimeout(r, 1000));

  for (const l of lanes) {
    const result = checkSequences(all(l), { [l.name]: LINES });
    const oldCount = l.before.messages().length;
    console.log(`destination moved (${l.proto}): ${oldCount} lines to 127.0.0.1, ${l.after.messages().length} to 127.0.0.2,`, result);
    expect(result, l.proto).toEqual({ lost: 0, duplicated: 0, outOfOrder: 0, repeatRuns: 0 });
    // The move is one cut: everything before it at the old address, everything after at the new one.
    const lastOld = Math.max(...l.before.messages().map((m) => Number(String(m.short_message).split(' ')[1])));
    const firstNew = Math.min(...l.after.messages().map((m) => Number(String(m.short_message).split(' ')[1])));
    expect(firstNew, l.proto).toBe(lastOld + 1);
    expect(fs.readFileSync(l.log, 'utf8'), l.proto).toMatch(new RegExp(`${NAME.replace(/\./g, '\\.')} now resolves to 127\\.0\\.0\\.2 \\(was 127\\.0\\.0\\.1\\)`));
  }
});
