/**
 * Builds the swarmwatch image with deploy/Dockerfile on a private engine, with no registry at all:
 *
 *  1. A base image made on this machine: a root filesystem holding this host's `node` binary and the
 *     shared libraries `ldd` names, the host's npm, the static busybox for a shell (`/bin/sh`,
 *     `/usr/bin/env` for npm's shebang), and an /etc/passwd with uid 1000. `docker import`ed and tagged,
 *     then passed as `--build-arg BASE_IMAGE=...` (the Dockerfile's default stays node:20-slim).
 *  2. The Dockerfile's offline path: an npm cache filled from package-lock.json (by `npm ci` against the
 *     npm registry on the host, or from the host's ~/.npm when the registry is unreachable) is put in the
 *     build context at deploy/offline-npm-cache/ and the build runs `npm ci --offline` from it.
 *  3. The legacy builder (`DOCKER_BUILDKIT=0`, dockerd 20.10) with `--network none`: the build itself
 *     cannot reach anything.
 *
 * The context is staged in a temp dir with exactly the paths the Dockerfile copies (a COPY of anything
 * else fails the build, which is the point). The built image is saved to
 * /tmp/swarmwatch-bed/cache/swarmwatch-image-<hash>.tar, keyed by a hash of every input (Dockerfile,
 * staged sources, lockfile, base image identity), so later runs only `docker load` it.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DOCKER_CLI, type PrivateEngine } from '../../test/bed/index.js';
import { BED_ROOT, run } from '../../test/bed/util.js';

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const CACHE_DIR = path.join(BED_ROOT, 'cache');
/** Bump when this file changes what it builds. */
const RECIPE = 'swarmwatch-image-v1';
export const BASE_TAG = 'swarmwatch-test/node-base:20';
export const IMAGE_TAG = 'swarmwatch-test/swarmwatch:latest';

/** What the Dockerfile copies from the context (besides the offline npm cache). */
const CONTEXT_FILES = ['package.json', 'package-lock.json', 'tsconfig.json', 'deploy/Dockerfile', 'deploy/tsconfig.build.json'];
const CONTEXT_DIRS = ['core', 'cli', 'exporter', 'log-shipper', 'alertmanager'];

export interface BuiltImage {
  tag: string;
  id: string;
  /** The `docker save` tarball in the cache. */
  tarball: string;
  /** true when the tarball was already cached (nothing was built). */
  cached: boolean;
  /** Seconds spent building and saving (0 when cached), and loading into the engines (all at once). */
  buildSeconds: number;
  loadSeconds: number;
  /** Size of the image as the engine reports it. */
  sizeBytes: number;
}

function sha(h: ReturnType<typeof createHash>, file: string, rel: string): void {
  h.update(`${rel}\0${fs.statSync(file).mode & 0o777}\0`);
  h.update(fs.readFileSync(file));
  h.update('\0');
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

function contextSources(): string[] {
  return [...CONTEXT_FILES.map((f) => path.join(ROOT, f)), ...CONTEXT_DIRS.flatMap((d) => walk(path.join(ROOT, d)))];
}

/** The host files that go into the base image: node, its libraries, npm, busybox, util-linux's flock. */
function baseInputs(): { node: string; libs: string[]; npmDir: string; busybox: string; flock: string } {
  const node = fs.realpathSync(process.execPath);
  const npmDir = ['/usr/lib/node_modules/npm', '/usr/local/lib/node_modules/npm', path.resolve(path.dirname(node), '../lib/node_modules/npm')]
    .find((d) => fs.existsSync(path.join(d, 'bin/npm-cli.js')));
  if (!npmDir) throw new Error('npm not found next to node (needed inside the base image for npm ci)');
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((b) => fs.existsSync(b));
  if (!busybox) throw new Error('static busybox not found: apt-get install -y busybox-static');
  // The shipper locks its state dir with it, as in node:20-slim (Debian's busybox has no flock applet).
  const flock = '/usr/bin/flock';
  if (!fs.existsSync(flock)) throw new Error('/usr/bin/flock not found: apt-get install -y util-linux');
  return { node, libs: [], npmDir, busybox, flock };
}

async function nodeLibs(node: string): Promise<string[]> {
  const { stdout } = await run('ldd', [node]);
  // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"
  return [...stdout.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)].map((m) => m[1]!);
}

function baseKey(b: ReturnType<typeof baseInputs>): string {
  const st = (f: string) => { const s = fs.statSync(f); return `${f}:${s.size}:${Math.floor(s.mtimeMs)}`; };
  const npmVersion = (JSON.parse(fs.readFileSync(path.join(b.npmDir, 'package.json'), 'utf8')) as { version: string }).version;
  return createHash('sha256').update([RECIPE, st(b.node), `npm@${npmVersion}`, st(b.busybox), st(b.flock)].join('\n')).digest('hex').slice(0, 16);
}

/** Makes (once) the base rootfs tarball and returns its path. */
async function baseTarball(b: ReturnType<typeof baseInputs>, key: string): Promise<string> {
  const tarball = path.join(CACHE_DIR, `node-base-rootfs-${key}.tar`);
  if (fs.existsSync(tarball)) return tarball;
  const work = fs.mkdtempSync(path.join(CACHE_DIR, 'base-build-'));
  try {
    const root = path.join(work, 'root');
    for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'usr/lib/node_modules', 'etc', 'proc', 'sys', 'dev', 'root', 'tmp', 'var/tmp', 'home/node', 'run'])
      fs.mkdirSync(path.join(root, d), { recursive: true });
    fs.chmodSync(path.join(root, 'tmp'), 0o1777);
    fs.chmodSync(path.join(root, 'var/tmp'), 0o1777);
    fs.copyFileSync(b.node, path.join(root, 'usr/bin/node'));
    fs.chmodSync(path.join(root, 'usr/bin/node'), 0o755);
    // Needs only libc and the loader, which node brings.
    fs.copyFileSync(b.flock, path.join(root, 'usr/bin/flock'));
    fs.chmodSync(path.join(root, 'usr/bin/flock'), 0o755);
    for (const lib of await nodeLibs(b.node)) {
      const target = path.join(root, lib);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.copyFileSync(fs.realpathSync(lib), target);
    }
    await run('cp', ['-a', b.npmDir, path.join(root, 'usr/lib/node_modules/npm')]);
    fs.symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', path.join(root, 'usr/bin/npm'));
    fs.symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', path.join(root, 'usr/bin/npx'));
    fs.copyFileSync(b.busybox, path.join(root, 'bin/busybox'));
    fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
    for (const applet of (await run(b.busybox, ['--list-full'])).stdout.split('\n').filter(Boolean)) {
      const target = path.join(root, applet);
      if (applet.endsWith('/busybox') || fs.lstatSync(target, { throwIfNoEntry: false })) continue;
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.symlinkSync('/bin/busybox', target);
    }
    fs.writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000:node:/home/node:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
    fs.writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\nnode:x:1000:\nnogroup:x:65534:\n');
    fs.writeFileSync(path.join(root, 'etc/nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n');
    const tmp = path.join(work, 'rootfs.tar');
    // home/node belongs to uid 1000 as in node:20-slim.
    await run('tar', ['--numeric-owner', '--owner=0', '--group=0', '--exclude=./home/node', '-C', root, '-cf', tmp, '.']);
    await run('tar', ['--numeric-owner', '--owner=1000', '--group=1000', '--no-recursion', '-C', root, '-rf', tmp, './home/node']);
    fs.renameSync(tmp, tarball);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return tarball;
}

/** An npm cache holding every package of package-lock.json (dev dependencies too: the build runs tsc). */
async function offlineNpmCache(): Promise<string> {
  const lock = fs.readFileSync(path.join(ROOT, 'package-lock.json'));
  const key = createHash('sha256').update(lock).update(fs.readFileSync(path.join(ROOT, 'package.json'))).digest('hex').slice(0, 16);
  const dir = path.join(CACHE_DIR, `npm-cache-${key}`);
  if (fs.existsSync(path.join(dir, '.complete'))) return dir;
  const work = fs.mkdtempSync(path.join(CACHE_DIR, 'npm-fill-'));
  try {
    for (const f of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(ROOT, f), path.join(work, f));
    const cache = path.join(work, 'cache');
    const npm = (extra: string[]) => run('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', `--cache=${cache}`, ...extra],
      { env: { ...process.env, npm_config_update_notifier: 'false' }, timeoutMs: 300_000, check: false });
    let r = await npm([]);
    if (r.code !== 0) {
      // No registry: seed from the host's own npm cache, then prove it suffices offline.
      await run('cp', ['-a', path.join(os.homedir(), '.npm/_cacache'), path.join(cache, '_cacache')]);
      fs.rmSync(path.join(work, 'node_modules'), { recursive: true, force: true });
      r = await npm(['--offline']);
    }
    if (r.code !== 0) throw new Error(`could not fill an npm cache for the offline build: ${r.stderr.trim()}`);
    for (const junk of ['_logs', '_update-notifier-last-checked']) fs.rmSync(path.join(cache, junk), { recursive: true, force: true });
    fs.writeFileSync(path.join(cache, '.complete'), '');
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(cache, dir);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return dir;
}

function imageKey(base: string, npmCache: string): string {
  const h = createHash('sha256').update(`${RECIPE}\n${base}\n${npmCache}\n`);
  for (const f of contextSources()) sha(h, f, path.relative(ROOT, f));
  return h.digest('hex').slice(0, 16);
}

async function inspect(engine: PrivateEngine, tag: string): Promise<{ id: string; size: number } | undefined> {
  const r = await engine.docker(['image', 'inspect', '--format', '{{.Id}} {{.Size}}', tag], { check: false });
  if (r.code !== 0) return undefined;
  const [id, size] = r.stdout.trim().split(' ');
  return { id: id!, size: Number(size) };
}

/** The legacy builder, as dockerd 20.10 offers it; the engine's own CLI environment. */
async function legacyBuild(engine: PrivateEngine, args: string[]): Promise<void> {
  const config = path.join(CACHE_DIR, 'docker-cli-config');
  fs.mkdirSync(config, { recursive: true });
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', DOCKER_CONFIG: config, DOCKER_BUILDKIT: '0' };
  const r = await run(DOCKER_CLI, ['-H', engine.dockerHost, 'build', ...args], { env, timeoutMs: 600_000, check: false });
  if (r.code !== 0) throw new Error(`docker build failed (exit ${r.code}):\n${(r.stdout + r.stderr).split('\n').slice(-40).join('\n')}`);
}

/**
 * Ensures `tag` (the swarmwatch image built from this tree) exists on every engine, with one image ID:
 * loads the cached tarball into all of them at once when the inputs are unchanged, otherwise builds it
 * on the first engine, caches it, and loads it into the others.
 */
export async function ensureSwarmwatchImage(engines: PrivateEngine[], tag = IMAGE_TAG): Promise<BuiltImage> {
  const engine = engines[0];
  if (!engine) throw new Error('ensureSwarmwatchImage: no engine given');
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const b = baseInputs();
  const bKey = baseKey(b);
  const npmCache = await offlineNpmCache();
  const key = imageKey(bKey, path.basename(npmCache));
  const tarball = path.join(CACHE_DIR, `swarmwatch-image-${key}.tar`);
  const taggedKey = `${tag}@${key}`;
  let buildSeconds = 0;
  let loadSeconds = 0;
  const cached = fs.existsSync(tarball);
  const load = async (targets: PrivateEngine[]) => {
    const t0 = Date.now();
    await Promise.all(targets.map((e) => e.docker(['load', '-q', '-i', tarball], { timeoutMs: 300_000 })));
    loadSeconds = (Date.now() - t0) / 1000;
  };
  if (cached) {
    await load(engines);
  } else {
    const t0 = Date.now();
    const base = await baseTarball(b, bKey);
    await engine.docker(['import', '--change', 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', '--change', 'CMD ["node"]', base, BASE_TAG]);
    const ctx = fs.mkdtempSync(path.join(CACHE_DIR, 'context-'));
    try {
      for (const f of CONTEXT_FILES) { fs.mkdirSync(path.dirname(path.join(ctx, f)), { recursive: true }); fs.copyFileSync(path.join(ROOT, f), path.join(ctx, f)); }
      for (const d of CONTEXT_DIRS) await run('cp', ['-a', path.join(ROOT, d), path.join(ctx, d)]);
      await run('cp', ['-a', npmCache, path.join(ctx, 'deploy/offline-npm-cache')]);
      fs.rmSync(path.join(ctx, 'deploy/offline-npm-cache/.complete'));
      await legacyBuild(engine, ['--network', 'none', '--force-rm', '-f', path.join(ctx, 'deploy/Dockerfile'),
        '--build-arg', `BASE_IMAGE=${BASE_TAG}`, '--build-arg', 'NPM_CONFIG_OFFLINE=true', '--label', `swarmwatch.test.key=${key}`, '-t', tag, ctx]);
    } finally {
      fs.rmSync(ctx, { recursive: true, force: true });
    }
    buildSeconds = (Date.now() - t0) / 1000;
    const tmp = `${tarball}.${process.pid}.tmp`;
    await engine.docker(['save', '-o', tmp, tag], { timeoutMs: 300_000 });
    fs.renameSync(tmp, tarball);
    // Older tarballs of this recipe are stale now.
    for (const f of fs.readdirSync(CACHE_DIR)) if (/^swarmwatch-image-[0-9a-f]{16}\.tar$/.test(f) && f !== path.basename(tarball)) fs.rmSync(path.join(CACHE_DIR, f), { force: true });
    await load(engines.slice(1));
  }
  const info = await inspect(engine, tag);
  if (!info) throw new Error(`image ${tag} missing on ${engine.name} after ${cached ? 'docker load' : 'docker build'} (${taggedKey})`);
  for (const e of engines.slice(1)) {
    const other = await inspect(e, tag);
    if (other?.id !== info.id) throw new Error(`image ${tag} on ${e.name} is ${other?.id ?? 'missing'}, not ${info.id}`);
  }
  return { tag, id: info.id, tarball, cached, buildSeconds, loadSeconds, sizeBytes: info.size };
}
