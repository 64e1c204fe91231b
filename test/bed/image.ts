/**
 * The test image. No registry is reachable, so the bed makes its own: a rootfs
 * holding the host's static /bin/busybox plus one symlink per applet, imported
 * with `docker import`. Note: busybox `wget` segfaults in this image; use `nc`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PrivateEngine } from './engine.js';
import { BED_ROOT, BedError, randomId, run } from './util.js';

export const BUSYBOX_TAG = 'swarmwatch-test/busybox:1';
const BUSYBOX = '/bin/busybox';
const CACHE_DIR = path.join(BED_ROOT, 'cache');

/**
 * Builds (once per busybox binary) the rootfs tarball and returns its path.
 * Concurrent callers each build into a private temp dir and rename into place.
 */
export async function busyboxTarball(): Promise<string> {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(BUSYBOX);
  } catch {
    throw new BedError(`${BUSYBOX} not found: apt-get install -y busybox-static`);
  }
  const tarball = path.join(CACHE_DIR, `busybox-rootfs-${stat.size}-${Math.floor(stat.mtimeMs)}.tar`);
  if (fs.existsSync(tarball)) return tarball;
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const work = path.join(CACHE_DIR, `build-${process.pid}-${randomId()}`);
  try {
    await buildRootfs(path.join(work, 'root'));
    const tmp = path.join(work, 'rootfs.tar');
    await run('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', path.join(work, 'root'), '-cf', tmp, '.']);
    fs.renameSync(tmp, tarball);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return tarball;
}

async function buildRootfs(root: string): Promise<void> {
  for (const dir of ['bin', 'etc', 'proc', 'sys', 'dev', 'root', 'var', 'tmp']) fs.mkdirSync(path.join(root, dir), { recursive: true });
  fs.chmodSync(path.join(root, 'tmp'), 0o1777);
  fs.copyFileSync(BUSYBOX, path.join(root, 'bin', 'busybox'));
  fs.chmodSync(path.join(root, 'bin', 'busybox'), 0o755);
  const applets = (await run(BUSYBOX, ['--list'])).stdout.split('\n').filter((a) => a && a !== 'busybox' && !a.includes('/'));
  for (const applet of applets) fs.symlinkSync('busybox', path.join(root, 'bin', applet));
  fs.writeFileSync(path.join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  fs.writeFileSync(path.join(root, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
}

/** Imports the busybox image into `engine` unless `tag` is already there; returns the image ID. */
export async function ensureBusyboxImage(engine: PrivateEngine, tag = BUSYBOX_TAG): Promise<string> {
  const existing = await imageId(engine, tag);
  if (existing) return existing;
  const tarball = await busyboxTarball();
  await engine.docker(['import', '--change', 'CMD ["sh"]', '--change', 'ENV PATH=/bin', tarball, tag]);
  const id = await imageId(engine, tag);
  if (!id) throw new BedError(`engine ${engine.name}: image ${tag} missing right after docker import`, engine.logTail(15));
  return id;
}

export async function imageId(engine: PrivateEngine, tag: string): Promise<string | undefined> {
  const r = await engine.docker(['image', 'inspect', '--format', '{{.Id}}', tag], { check: false });
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/**
 * Copies an image to every engine with `docker save` / `docker load`, so its ID is
 * the same on all of them (separate `docker import`s would give different IDs:
 * the config holds a creation time). The first engine holding the image is the
 * source; if none does and `tag` is the busybox tag, it is imported into engines[0].
 */
export async function loadImageInto(engines: PrivateEngine[], tag = BUSYBOX_TAG): Promise<string> {
  if (engines.length === 0) throw new BedError('loadImageInto: no engines given');
  const ids = await Promise.all(engines.map((e) => imageId(e, tag)));
  let sourceIndex = ids.findIndex(Boolean);
  if (sourceIndex < 0) {
    if (tag !== BUSYBOX_TAG) throw new BedError(`loadImageInto: no engine holds ${tag}`);
    ids[0] = await ensureBusyboxImage(engines[0]!, tag);
    sourceIndex = 0;
  }
  const source = engines[sourceIndex]!;
  const wanted = ids[sourceIndex]!;
  const targets = engines.filter((_e, i) => ids[i] !== wanted);
  if (targets.length === 0) return wanted;
  const file = path.join(CACHE_DIR, `save-${process.pid}-${randomId()}.tar`);
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  try {
    await source.docker(['save', '-o', file, tag]);
    await Promise.all(targets.map((e) => e.docker(['load', '-q', '-i', file])));
  } finally {
    fs.rmSync(file, { force: true });
  }
  return wanted;
}
