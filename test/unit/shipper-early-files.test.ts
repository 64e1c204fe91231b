/**
 * EarlyLogFiles: what a --rm container leaves the shipper when it is removed before the state model's inspect
 * answered. On the engine's own files, recorded from a private engine by scripts/record-container-fixtures.mjs (test/fixtures/api/container-config-v2-running.json,
 * container-event-start.json: `docker run -d --name job-7 --label com.example.team=ops -e JOB_ID=7 … sh -c 'echo hi; sleep 2'`).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { RawEvent } from '../../core/docker/types.js';
import { EarlyLogFiles, recordFromAttributes } from '../../log-shipper/early-log-files.js';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/api');
const config = fs.readFileSync(path.join(fixtures, 'container-config-v2-running.json'), 'utf8');
const startEvent = JSON.parse(fs.readFileSync(path.join(fixtures, 'container-event-start.json'), 'utf8')) as RawEvent;
const id = startEvent.Actor.ID;

const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true }); });

/** A containers dir holding the recorded container: its config.v2.json and a one-line json-file log. */
function containersDir(withConfig = true): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-early-'));
  dirs.push(root);
  fs.mkdirSync(path.join(root, id));
  if (withConfig) fs.writeFileSync(path.join(root, id, 'config.v2.json'), config);
  fs.writeFileSync(path.join(root, id, `${id}-json.log`), '{"log":"hi\\n","stream":"stdout","time":"2026-11-23T16:20:01.123456789Z"}\n');
  return root;
}

describe('EarlyLogFiles', () => {
  it('describes a container removed after its start from the config file it held: what the inspect would have said', () => {
    const root = containersDir();
    const early = new EarlyLogFiles();
    expect(early.hold(root, id, startEvent.Actor.Attributes ?? {})).toBe(true);
    fs.rmSync(path.join(root, id), { recursive: true });
    const r = early.recordOf(id)!;
    expect(r).toMatchObject({ id, name: 'job-7', image: 'swarmwatch-test/busybox:1', command: 'sh -c echo hi; sleep 2', state: 'exited', pid: 0, logDriver: 'json-file', tty: false });
    expect(r.imageId).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(r.createdIso).toMatch(/^20\d\d-/);
    expect(r.labels['com.example.team']).toBe('ops');
    expect(r.env).toContain('JOB_ID=7');
    // The log it held is readable though its path is gone, and becomes the caller's.
    const fd = early.takeLog(id)!;
    expect(fs.readFileSync(fd, 'utf8')).toContain('"log":"hi\\n"');
    fs.closeSync(fd);
    expect(early.has(id)).toBe(false);
  });

  it('falls back to the start event (name, image, labels) without a config file', () => {
    const root = containersDir(false);
    const early = new EarlyLogFiles();
    early.hold(root, id, startEvent.Actor.Attributes ?? {});
    const r = early.recordOf(id)!;
    expect(r).toMatchObject({ id, name: 'job-7', image: 'swarmwatch-test/busybox:1', command: '', state: 'exited' });
    expect(r.labels).toEqual({ 'com.example.team': 'ops', 'swarmwatch.multiline.pattern': '^\\S' });
    early.closeAll();
    expect(recordFromAttributes(id, { name: 'x', image: 'y', exitCode: '3', 'com.docker.swarm.service.name': 'web' })).toMatchObject({ exitCode: 3, labels: { 'com.docker.swarm.service.name': 'web' }, swarm: { serviceName: 'web' } });
  });

  it('holds nothing for a container without a json-file log, at most maxHeld, and closes what nobody took after maxAgeMs', () => {
    const root = containersDir();
    const early = new EarlyLogFiles(1, 1000);
    expect(early.hold(root, 'f'.repeat(64), {})).toBe(false);
    expect(early.hold(root, id, {})).toBe(true);
    fs.mkdirSync(path.join(root, 'e'.repeat(64)));
    fs.writeFileSync(path.join(root, 'e'.repeat(64), `${'e'.repeat(64)}-json.log`), '');
    expect(early.hold(root, 'e'.repeat(64), {})).toBe(false);
    early.expire(Date.now() + 500);
    expect(early.size).toBe(1);
    early.expire(Date.now() + 1500);
    expect(early.size).toBe(0);
    expect(early.takeLog(id)).toBeUndefined();
  });
});
