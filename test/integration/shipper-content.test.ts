/**
 * What the shipper makes of a container's output, end to end on a real engine, in both read modes side by side:
 * multiline records joined by a container's own pattern (label `swarmwatch.multiline.pattern`, which overrides the
 * shipper's `shipper.multiline-pattern`), the last record of a container that then stays quiet sent after the
 * multiline timeout, a label that is no regular expression (one warning naming the container, the shipper's pattern
 * used), `swarmwatch.logs=false` (nothing shipped), bytes that are not UTF-8 (carried, the rest of the line and
 * the next line intact, no crash), and log drivers: a remote one (syslog) is read from the engine's dual-logging
 * cache, `none` keeps nothing to read (one warning naming the container and the fix, no retries).
 */
import { expect, it } from 'vitest';
import { lanesBed, until } from './shipper-support.js';

const image = 'swarmwatch-test/busybox:1';
const bed = lanesBed('shipcontent');

it('joins multiline records by a container\'s label over the shipper\'s pattern, warns about a bad label, skips swarmwatch.logs=false, carries invalid UTF-8, reads a remote driver\'s cache and warns once about driver none (read modes api and file)', async () => {
  const { engine } = bed;
  const lanes = await bed.startLanes(['--shipper.include-names=^ct-', '--shipper.multiline-pattern=^\\S', '--shipper.multiline-timeout=500ms']);
  const run = (name: string, labels: string[], script: string) =>
    engine.docker(['run', '-d', '--network', 'none', '--name', name, ...labels.flatMap((l) => ['--label', l]), image, 'sh', '-c', script]);
  // A Java-style trace: "Caused by:" starts with a non-blank, so the shipper's ^\S would cut the record there.
  await run('ct-java', ['swarmwatch.multiline.pattern=^\\d{4}-'],
    "printf '2026-01-01 ERROR boom\\n\\tat a.b(C.java:1)\\nCaused by: x.Y\\n\\tat d.e(F.java:2)\\n2026-01-01 INFO next\\n'; sleep 2; " +
    "printf '2026-01-01 WARN last\\n  continued\\n'; exec sleep 3600");
  await run('ct-badlabel', ['swarmwatch.multiline.pattern=(['], "printf 'first\\n  indented\\nsecond\\n'; exec sleep 3600");
  await run('ct-excluded', ['swarmwatch.logs=false'], "echo 'must not ship'; exec sleep 3600");
  await run('ct-utf8', [], "printf 'bad \\377\\376 bytes\\nafter bad\\n'; exec sleep 3600");
  const runWithDriver = (name: string, driver: string[], script: string) =>
    engine.docker(['run', '-d', '--network', 'none', '--name', name, ...driver, image, 'sh', '-c', script]);
  // Its syslog destination is a port nobody listens on: the engine's cache still has the lines.
  await runWithDriver('ct-syslog', ['--log-driver', 'syslog', '--log-opt', 'syslog-address=udp://127.0.0.1:9'], "echo 'through the dual-logging cache'; exec sleep 3600");
  await runWithDriver('ct-nolog', ['--log-driver', 'none'], "i=0; while :; do echo \"never readable $i\"; i=$((i+1)); sleep 1; done");

  const of = (l: (typeof lanes)[number], name: string) => l.receiver.messages().filter((m) => m._container_name === name);
  // The last record of each multiline container leaves only by the timeout: the containers stay up, quiet.
  await until('every record in both modes', () => lanes.every((l) => of(l, 'ct-java').length >= 3 && of(l, 'ct-badlabel').length >= 2 && of(l, 'ct-utf8').length >= 2 && of(l, 'ct-syslog').length >= 1), 30_000);
  // Anything sent late or twice would come by now; a reader retrying ct-nolog would have warned again (backoff 1 s, 2 s…).
  await new Promise((r) => setTimeout(r, 4000));

  for (const l of lanes) {
    const java = of(l, 'ct-java').map((m) => [m.short_message, m.full_message]);
    expect(java, `read-mode ${l.mode}`).toEqual([
      ['2026-01-01 ERROR boom', '2026-01-01 ERROR boom\n\tat a.b(C.java:1)\nCaused by: x.Y\n\tat d.e(F.java:2)'],
      ['2026-01-01 INFO next', undefined],
      ['2026-01-01 WARN last', '2026-01-01 WARN last\n  continued'],
    ]);
    expect(of(l, 'ct-badlabel').map((m) => [m.short_message, m.full_message]), `read-mode ${l.mode}`).toEqual([['first', 'first\n  indented'], ['second', undefined]]);
    const warnings = l.shipper.stderr().split('\n').filter((line) => line.includes('swarmwatch.multiline.pattern'));
    expect(warnings, `read-mode ${l.mode}: one warning for the bad label`).toHaveLength(1);
    expect(warnings[0]).toMatch(/WARN .*label swarmwatch\.multiline\.pattern of ct-badlabel is not a regular expression .*shipper\.multiline-pattern \(\^\\S\)/);
    expect(of(l, 'ct-excluded'), `read-mode ${l.mode}`).toEqual([]);
    const utf8 = of(l, 'ct-utf8').map((m) => String(m.short_message));
    expect(utf8, `read-mode ${l.mode}`).toHaveLength(2);
    expect(utf8[0]).toMatch(/^bad .+ bytes$/);
    expect(utf8[1]).toBe('after bad');
    expect(of(l, 'ct-syslog').map((m) => m.short_message), `read-mode ${l.mode}`).toEqual(['through the dual-logging cache']);
    expect(of(l, 'ct-nolog'), `read-mode ${l.mode}`).toEqual([]);
    const nolog = l.shipper.stderr().split('\n').filter((line) => line.includes('ct-nolog'));
    expect(nolog, `read-mode ${l.mode}: one warning for the container whose driver keeps nothing`).toHaveLength(1);
    expect(nolog[0]).toMatch(/WARN .*not shipping ct-nolog: .*configured logging driver does not support reading — .*use json-file or local.* code="SW_ERR_DOCKER_LOGS_UNREADABLE" driver="none"/);
    expect(l.shipper.child.exitCode).toBeNull();
  }
});
