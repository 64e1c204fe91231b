import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ContainersDirWatch } from '../../log-shipper/containers-dir-watch.js';

const cleanup: (() => void)[] = [];
afterEach(() => { for (const c of cleanup.splice(0)) c(); });

const idOf = (n: number) => n.toString(16).padStart(64, 'a');

async function until(what: string, check: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function watched(maxDirs?: number) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-cdw-'));
  const seen: string[] = [];
  const removed: string[] = [];
  const watch = new ContainersDirWatch(root, (id) => seen.push(id), undefined, maxDirs, undefined, (id) => removed.push(id));
  watch.start();
  cleanup.push(() => { watch.close(); fs.rmSync(root, { recursive: true, force: true }); });
  return { root, seen, removed, watch };
}

describe('ContainersDirWatch', () => {
  it('reports a container\'s log the moment the engine creates it in a new container dir, once, then stops watching that dir', async () => {
    const { root, seen, watch } = watched();
    const id = idOf(1);
    fs.mkdirSync(path.join(root, id));
    fs.writeFileSync(path.join(root, id, 'config.v2.json'), '{}');
    await until('the dir watched', () => watch.watchedDirs === 1);
    expect(seen).toEqual([]);
    fs.writeFileSync(path.join(root, id, `${id}-json.log`), '');
    await until('the log reported', () => seen.length === 1);
    fs.appendFileSync(path.join(root, id, `${id}-json.log`), '{}\n');
    await new Promise((r) => setTimeout(r, 50));
    expect(seen).toEqual([id]);
    expect(watch.watchedDirs).toBe(0);
  });

  it('reports a log already there when its dir is first seen, and ignores names that are not container ids', async () => {
    const { root, seen, watch } = watched();
    const id = idOf(2);
    const tmp = path.join(root, 'staging');
    fs.mkdirSync(tmp);
    fs.writeFileSync(path.join(tmp, `${id}-json.log`), '');
    // A dir that appears with its log in it (as after a rename): one look finds it.
    fs.renameSync(tmp, path.join(root, id));
    fs.mkdirSync(path.join(root, 'not-a-container'));
    await until('the log reported', () => seen.length === 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(seen).toEqual([id]);
    expect(watch.watchedDirs).toBe(0);
  });

  it('reports a container dir the engine deleted (the container removed), also one whose creation it had not handled yet', async () => {
    const { root, seen, removed } = watched();
    const id = idOf(3);
    fs.mkdirSync(path.join(root, id));
    fs.writeFileSync(path.join(root, id, `${id}-json.log`), '');
    await until('the log reported', () => seen.length === 1);
    fs.rmSync(path.join(root, id), { recursive: true });
    await until('the removal reported', () => removed.length === 1);
    // Created and removed before the watch handled either event (a short --rm job on a busy node).
    const quick = idOf(4);
    fs.mkdirSync(path.join(root, quick));
    fs.rmSync(path.join(root, quick), { recursive: true });
    await until('the quick one\'s removal reported', () => removed.includes(quick));
    fs.mkdirSync(path.join(root, 'not-a-container'));
    fs.rmSync(path.join(root, 'not-a-container'), { recursive: true });
    await new Promise((r) => setTimeout(r, 50));
    expect(removed.filter((r) => r === id)).toEqual([id]);
    expect(removed.every((r) => r === id || r === quick)).toBe(true);
  });

  it('watches at most maxDirs container dirs at once', async () => {
    const { root, seen, watch } = watched(2);
    for (let i = 10; i < 13; i++) fs.mkdirSync(path.join(root, idOf(i)));
    await new Promise((r) => setTimeout(r, 100));
    expect(watch.watchedDirs).toBe(2);
    for (let i = 10; i < 13; i++) fs.writeFileSync(path.join(root, idOf(i), `${idOf(i)}-json.log`), '');
    await until('two logs reported', () => seen.length === 2);
    await new Promise((r) => setTimeout(r, 50));
    expect(seen.sort()).toEqual([idOf(10), idOf(11)]);
  });

  it('says why when the containers dir cannot be watched, once', () => {
    const said: string[] = [];
    const watch = new ContainersDirWatch(path.join(os.tmpdir(), 'sw-cdw-missing-dir'), () => undefined, (err) => said.push((err as NodeJS.ErrnoException).code ?? ''));
    watch.start();
    watch.start();
    expect(said).toEqual(['ENOENT']);
  });
});
