/**
 * Private Docker engines for tests: one dockerd (with its own containerd) per
 * engine, with its own data root, exec root, socket and cgroup parent, so a test
 * never touches a user's engine at /var/run/docker.sock or another test's engine.
 *
 * Layout of one engine (short paths: unix socket paths must stay < 108 bytes):
 *   /tmp/swarmwatch-bed/<name>-<rand>/
 *     engine.json   description + owner (used by attachEngine and stopAllStale)
 *     docker.sock   dockerd.pid   dockerd.log   daemon.json   key.json
 *     data/         --data-root
 *     exec/         --exec-root (containerd state, shim bundles, netns mounts)
 *     cli/          DOCKER_CONFIG of the CLI calls, so a user's ~/.docker is ignored
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { engineRequest, ping, type ApiResponse } from './api.js';
import { stopAllStaleOnce } from './stale.js';
import {
  BED_ROOT,
  BedError,
  CGROUP_PREFIX,
  NET_PREFIX,
  type OwnerRecord,
  claim,
  cmdlineOf,
  currentOwner,
  destroyCgroup,
  isAlive,
  killAndWait,
  pidsInCgroup,
  pidsWithCmdline,
  randomId,
  readPidFile,
  releaseClaim,
  removeDeadShimSockets,
  removeTree,
  run,
  signal,
  sleep,
  tailFile,
  writeJsonAtomic,
  type RunResult,
} from './util.js';

/** The Debian CLI matches the 20.10 daemon; a newer `docker` on PATH also works (API negotiation). */
export const DOCKER_CLI = process.env.SWARMWATCH_DOCKER_CLI ?? (fs.existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker');
const SHARED_CONTAINERD_SOCK = '/run/containerd/containerd.sock';
/** Host-side /24s for the engines' bridges: 10.214.<n>.0/24 (the swarm uses 10.213.x). */
const ENGINE_NET_PREFIX = '10.214';

export interface EngineOptions {
  /** Short name used in paths and cgroup names ([a-z0-9-], default "e"). */
  name?: string;
  /** `--metrics-addr`, e.g. "127.0.0.1:0" is not allowed by dockerd: give a real port. */
  metricsAddr?: string;
  /** Extra dockerd flags, appended last. */
  extraArgs?: string[];
  /** The daemon's time zone (TZ), e.g. "Europe/Berlin"; default UTC, as the bed runs everything. */
  timeZone?: string;
  /**
   * Give the engine a default bridge (a host bridge "swtest-xxxxxxxx" on a private
   * 10.214.n.0/24) so `docker run` without `--network` gets an eth0. Default true.
   */
  defaultBridge?: boolean;
  /** How long to wait for /_ping after spawning dockerd (default 60 s). */
  readyTimeoutMs?: number;
}

/** Options the swarm bed uses on top of EngineOptions. */
export interface EngineLaunchOptions extends EngineOptions {
  /** Base directory instead of /tmp/swarmwatch-bed/<name>-<rand>. */
  baseDir?: string;
  /** Cgroup parent instead of /swarmwatch-test-<name>-<rand>. */
  cgroupParent?: string;
  /** Network namespace name (in /run/netns) to run dockerd in. */
  netns?: string;
  /** Host name of the engine (dockerd then runs in its own UTS namespace). */
  hostname?: string;
}

/** Everything needed to operate an engine from any process; stored as engine.json. */
export interface EngineDescription {
  name: string;
  id: string;
  baseDir: string;
  socketPath: string;
  dataRoot: string;
  execRoot: string;
  pidFile: string;
  logFile: string;
  cgroupParent: string;
  netns?: string;
  hostname?: string;
  /** Full dockerd argument list, reused by start() after kill(). */
  args: string[];
  /** Host links this engine owns (deleted on stop, even if dockerd is dead). */
  links: string[];
  /** Subnet claims to release on stop. */
  claims: string[];
  /** True when dockerd uses a containerd at /run/containerd that the bed does not own. */
  sharedContainerd: boolean;
  /** TZ of dockerd, when not UTC. */
  timeZone?: string;
  owner: OwnerRecord;
  /** Pid of dockerd at its last start (the pid file is authoritative while it runs). */
  pid: number;
}

export interface DockerOptions {
  input?: string | Buffer;
  timeoutMs?: number;
  /** Throw a BedError on a non-zero exit (default true). Pass false to inspect `code` yourself. */
  check?: boolean;
}

export interface KillOptions {
  /** Kill only dockerd and containerd; leave shims and container processes running. */
  keepContainers?: boolean;
}

export interface PrivateEngine {
  readonly name: string;
  readonly socketPath: string;
  /** "unix://<socketPath>" for DOCKER_HOST or dockerode. */
  readonly dockerHost: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  /** e.g. "/swarmwatch-test-e-1a2b3c"; containers live at /sys/fs/cgroup/<controller><cgroupParent>/<id>. */
  readonly cgroupParent: string;
  readonly logFile: string;
  /** Current dockerd pid. */
  readonly pid: number;
  /** Pid of the containerd this engine's dockerd started; undefined when it uses a shared one (or none runs). */
  readonly containerdPid: number | undefined;
  readonly description: EngineDescription;
  /** Runs the docker CLI against this engine (`-H` is added). */
  docker(args: string[], opts?: DockerOptions): Promise<RunResult>;
  /** One Engine API request over the socket, e.g. api('GET', '/info'). */
  api<T = unknown>(method: string, urlPath: string, body?: unknown, timeoutMs?: number): Promise<ApiResponse<T>>;
  /** Creates a user-defined bridge network on its own private /24 (host link "swtest-xxxxxxxx"). */
  createNetwork(name: string): Promise<{ name: string; subnet: string; bridge: string }>;
  /**
   * SIGKILL dockerd and its containerd, and by default also the shims and the
   * containers (a node crash). With `keepContainers` the containers survive; the
   * restarted dockerd then stops them (SIGTERM, 10 s grace for a `sleep` as PID 1)
   * before it answers, which makes start() ~10 s slower.
   */
  kill(opts?: KillOptions): Promise<void>;
  /** (Re)starts dockerd after kill(), cleaning the stale pid files and shim sockets first. */
  start(timeoutMs?: number): Promise<void>;
  isRunning(): boolean;
  logTail(lines?: number): string;
  /**
   * Removes all containers, stops dockerd and containerd, removes dirs, links and cgroups. Idempotent.
   * `graceful: false` skips the API calls and SIGKILLs everything (fast teardown).
   */
  stop(opts?: { graceful?: boolean }): Promise<void>;
}

/** Starts a private engine and waits until it answers /_ping. */
export async function startEngine(opts: EngineLaunchOptions = {}): Promise<PrivateEngine> {
  const name = opts.name ?? 'e';
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new BedError(`invalid engine name "${name}": use [a-z0-9-]`);
  await stopAllStaleOnce();
  const id = `${name}-${randomId()}`;
  const desc = describeNewEngine(id, name, opts);
  fs.mkdirSync(desc.baseDir, { recursive: true });
  writeJsonAtomic(path.join(desc.baseDir, 'engine.json'), desc); // written first: stopAllStale can always tell who owns the dir
  const engine = new Engine(desc);
  try {
    await engine.prepare(opts);
    await engine.start(opts.readyTimeoutMs ?? 60_000);
    return engine;
  } catch (err) {
    await engine.stop().catch(() => undefined);
    throw err;
  }
}

/** Rebuilds an engine handle from its description (e.g. in another vitest worker). */
export function attachEngine(desc: EngineDescription): PrivateEngine {
  return new Engine(desc);
}

function describeNewEngine(id: string, name: string, opts: EngineLaunchOptions): EngineDescription {
  const baseDir = opts.baseDir ?? path.join(BED_ROOT, id);
  const socketPath = path.join(baseDir, 'docker.sock');
  if (socketPath.length >= 100) throw new BedError(`socket path too long for a unix socket: ${socketPath}`);
  return {
    name,
    id,
    baseDir,
    socketPath,
    dataRoot: path.join(baseDir, 'data'),
    execRoot: path.join(baseDir, 'exec'),
    pidFile: path.join(baseDir, 'dockerd.pid'),
    logFile: path.join(baseDir, 'dockerd.log'),
    cgroupParent: opts.cgroupParent ?? `/${CGROUP_PREFIX}${id}`,
    netns: opts.netns,
    hostname: opts.hostname,
    timeZone: opts.timeZone,
    args: [],
    links: [],
    claims: [],
    sharedContainerd: false,
    owner: currentOwner(),
    pid: 0,
  };
}

class Engine implements PrivateEngine {
  /** Exit flag of the dockerd spawned last (a per-spawn object: a late exit event of a killed predecessor must not count). */
  private launch: { exited: boolean } = { exited: false };

  constructor(readonly description: EngineDescription) {}

  get name(): string { return this.description.name; }
  get socketPath(): string { return this.description.socketPath; }
  get dockerHost(): string { return `unix://${this.description.socketPath}`; }
  get dataRoot(): string { return this.description.dataRoot; }
  get execRoot(): string { return this.description.execRoot; }
  get cgroupParent(): string { return this.description.cgroupParent; }
  get logFile(): string { return this.description.logFile; }
  get pid(): number { return readPidFile(this.description.pidFile) ?? this.description.pid; }
  get containerdPid(): number | undefined { return readPidFile(this.containerdPidFile); }

  private get containerdPidFile(): string {
    return path.join(this.execRoot, 'containerd', 'containerd.pid');
  }

  private save(): void {
    writeJsonAtomic(path.join(this.description.baseDir, 'engine.json'), this.description);
  }

  /** Creates dirs, daemon.json, the default bridge, and computes the dockerd flags. */
  async prepare(opts: EngineLaunchOptions): Promise<void> {
    const d = this.description;
    for (const dir of [d.dataRoot, d.execRoot, path.join(d.baseDir, 'cli')]) fs.mkdirSync(dir, { recursive: true });
    // Without a per-engine key path every engine shares /etc/docker/key.json, i.e. one engine ID.
    const daemonJson = path.join(d.baseDir, 'daemon.json');
    fs.writeFileSync(daemonJson, JSON.stringify({ 'deprecated-key-path': path.join(d.baseDir, 'key.json') }));
    d.sharedContainerd = await sharedContainerdRunning();
    const bridgeArgs = opts.defaultBridge === false || d.netns ? ['--bridge=none'] : [`--bridge=${await this.createHostBridge()}`];
    d.args = [
      `--config-file=${daemonJson}`,
      `--data-root=${d.dataRoot}`,
      `--exec-root=${d.execRoot}`,
      `--pidfile=${d.pidFile}`,
      `--host=unix://${d.socketPath}`,
      `--cgroup-parent=${d.cgroupParent}`,
      // Never touch the host firewall or sysctls.
      '--iptables=false',
      '--ip-masq=false',
      '--ip-forward=false',
      '--userland-proxy=false',
      ...bridgeArgs,
      '--shutdown-timeout=3',
      ...(d.sharedContainerd ? [`--containerd-namespace=swtest-${d.id}`, `--containerd-plugins-namespace=swtest-${d.id}-p`] : []),
      ...(opts.metricsAddr ? [`--metrics-addr=${opts.metricsAddr}`] : []),
      ...(opts.extraArgs ?? []),
    ];
    this.save();
  }

  /** A host bridge on a claimed 10.214.n.0/24; dockerd uses it as its default "bridge" network. */
  private async createHostBridge(): Promise<string> {
    const { bridge, subnet } = await this.claimBridge();
    this.description.links.push(bridge); // recorded before creation, so stopAllStale never mistakes it for an orphan
    this.save();
    await run('ip', ['link', 'add', bridge, 'type', 'bridge']);
    await run('ip', ['addr', 'add', `${subnet}.1/24`, 'dev', bridge]);
    await run('ip', ['link', 'set', bridge, 'up']);
    return bridge;
  }

  /** Picks a free 10.214.n.0/24 (claimed against parallel workers, checked against host addresses). */
  private async claimBridge(): Promise<{ bridge: string; subnet: string }> {
    const used = (await run('ip', ['-4', '-o', 'addr', 'show'])).stdout + (await run('ip', ['-4', 'route', 'show'])).stdout;
    for (let attempt = 0; attempt < 50; attempt++) {
      const subnet = `${ENGINE_NET_PREFIX}.${1 + Math.floor(Math.random() * 254)}`;
      if (used.includes(`${subnet}.`) || !claim(`subnet-${subnet}`, this.description.owner)) continue;
      this.description.claims.push(`subnet-${subnet}`);
      return { bridge: `${NET_PREFIX}-${randomId(4)}`, subnet };
    }
    throw new BedError(`engine ${this.name}: no free ${ENGINE_NET_PREFIX}.n.0/24 left for a bridge`);
  }

  async createNetwork(name: string): Promise<{ name: string; subnet: string; bridge: string }> {
    if (this.description.netns) throw new BedError('createNetwork is for host-namespace engines; swarm nodes use overlay networks');
    const { bridge, subnet } = await this.claimBridge();
    this.description.links.push(bridge);
    this.save();
    await this.docker(['network', 'create', '--driver', 'bridge', '--subnet', `${subnet}.0/24`, '-o', `com.docker.network.bridge.name=${bridge}`, name]);
    return { name, subnet: `${subnet}.0/24`, bridge };
  }

  /** A live process whose command line names our base dir (guards against pid reuse and zombies). */
  private owns(pid: number | undefined): boolean {
    return pid !== undefined && isAlive(pid) && cmdlineOf(pid).includes(`${this.description.baseDir}/`);
  }

  isRunning(): boolean {
    const pid = this.pid;
    return this.owns(pid);
  }

  logTail(lines = 30): string {
    return tailFile(this.logFile, lines);
  }

  async docker(args: string[], opts: DockerOptions = {}): Promise<RunResult> {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: process.env.HOME ?? '/root',
      DOCKER_CONFIG: path.join(this.description.baseDir, 'cli'),
      DOCKER_CLI_HINTS: 'false',
    };
    try {
      return await run(DOCKER_CLI, ['-H', this.dockerHost, ...args], { env, input: opts.input, timeoutMs: opts.timeoutMs ?? 120_000, check: opts.check });
    } catch (err) {
      throw new BedError(`engine ${this.name}: ${(err as Error).message}`, this.logTail(15));
    }
  }

  api<T = unknown>(method: string, urlPath: string, body?: unknown, timeoutMs?: number): Promise<ApiResponse<T>> {
    return engineRequest<T>(this.socketPath, method, urlPath, body, timeoutMs);
  }

  async start(timeoutMs = 90_000): Promise<void> {
    // Already running (or still starting): a second dockerd would fail on the pid file.
    if (this.isRunning()) return this.waitReady(timeoutMs);
    this.removeStalePidFiles();
    removeDeadShimSockets(this.execRoot);
    fs.rmSync(this.socketPath, { force: true });
    this.spawnDaemon();
    await this.waitReady(timeoutMs);
  }

  /**
   * Starts dockerd in the background, detached, with output to the log file.
   * bash closes every inherited fd > 2 before exec: a test runner waiting on
   * its pipes would otherwise hang until dockerd exits.
   */
  private spawnDaemon(): void {
    const d = this.description;
    const closeFds = 'for f in /proc/$$/fd/*; do n=${f##*/}; if [ "$n" -gt 2 ]; then eval "exec $n>&-"; fi; done; ';
    const setHost = d.hostname ? 'hostname "$1" || exit 1; shift; ' : '';
    const inner = ['bash', '-c', `${closeFds}${setHost}exec "$@"`, 'swarmwatch-bed', ...(d.hostname ? [d.hostname] : []), 'dockerd', ...d.args];
    // nsenter --net (not `ip netns exec`, which remounts /sys and hides the cgroups from the host).
    const argv = d.netns ? ['nsenter', `--net=/run/netns/${d.netns}`, '--', 'unshare', '--uts', '--', ...inner] : d.hostname ? ['unshare', '--uts', '--', ...inner] : inner;
    fs.appendFileSync(d.logFile, `\n=== swarmwatch-bed: starting dockerd at ${new Date().toISOString()} ===\n`);
    const log = fs.openSync(d.logFile, 'a');
    try {
      const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', DOCKER_SERVICE_PREFER_OFFLINE_IMAGE: '1', ...(d.timeZone ? { TZ: d.timeZone } : {}) };
      const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', log, log], env });
      const launch = { exited: false };
      this.launch = launch;
      child.on('exit', () => { launch.exited = true; });
      child.on('error', () => { launch.exited = true; });
      child.unref();
      d.pid = child.pid ?? 0; // nsenter, unshare and bash exec in place: this is dockerd's pid
      this.save();
    } finally {
      fs.closeSync(log);
    }
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await ping(this.socketPath, 1000)) return;
      if (this.launch.exited || !isAlive(this.description.pid)) {
        throw new BedError(`engine ${this.name}: dockerd exited during startup`, this.logTail());
      }
      await sleep(100);
    }
    throw new BedError(`engine ${this.name}: dockerd did not answer /_ping within ${timeoutMs} ms`, this.logTail());
  }

  /**
   * A killed containerd may linger as a zombie; dockerd then sees the pid in
   * containerd.pid as alive, waits 15 s and exits. Same for dockerd's own pid file.
   */
  private removeStalePidFiles(): void {
    for (const file of [this.description.pidFile, this.containerdPidFile]) {
      const pid = readPidFile(file);
      if (!this.owns(pid)) fs.rmSync(file, { force: true });
    }
  }

  async kill(opts: KillOptions = {}): Promise<void> {
    const d = this.description;
    const daemons = [this.pid, readPidFile(this.containerdPidFile)].filter((p): p is number => this.owns(p));
    // A whole-node crash also takes the shims (their command line names our exec root) and the containers.
    const rest = opts.keepContainers ? [] : [...pidsWithCmdline(`${d.execRoot}/`), ...pidsInCgroup(d.cgroupParent.replace(/^\//, ''))];
    const left = await killAndWait([...new Set([...daemons, ...rest])], 'SIGKILL', 5000);
    if (left.length > 0) throw new BedError(`engine ${this.name}: pids ${left.join(',')} survived SIGKILL`);
  }

  async stop(opts: { graceful?: boolean } = {}): Promise<void> {
    const d = this.description;
    const graceful = opts.graceful ?? true;
    if (!fs.existsSync(d.baseDir)) return;
    if (graceful && (await ping(this.socketPath))) await this.removeContainersAndNetworks().catch(() => undefined);
    await this.terminateDaemon(graceful);
    // Leftovers: shims (their command line names our exec root), then container processes.
    await killAndWait(pidsWithCmdline(`${d.baseDir}/`), 'SIGKILL', 5000);
    removeDeadShimSockets(d.execRoot);
    await destroyCgroup(d.cgroupParent.replace(/^\//, ''));
    for (const link of d.links) await run('ip', ['link', 'del', link], { check: false });
    for (const c of d.claims) releaseClaim(c);
    await removeTree(d.baseDir);
  }

  /** Removing containers first lets dockerd unmount and delete their cgroups itself. */
  private async removeContainersAndNetworks(): Promise<void> {
    const ids = (await this.docker(['ps', '-aq'], { timeoutMs: 30_000 })).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await this.docker(['rm', '-f', '-v', ...ids], { timeoutMs: 60_000, check: false });
    // Deletes the host bridges of user-defined networks (pre-defined ones cannot be removed: ignore errors).
    await this.docker(['network', 'prune', '-f'], { timeoutMs: 30_000, check: false });
  }

  /** SIGTERM, then SIGKILL after the shutdown timeout; containerd goes down with dockerd or is killed. */
  private async terminateDaemon(graceful: boolean): Promise<void> {
    const mine = (p: number | undefined): p is number => this.owns(p);
    const dockerd = [this.pid].filter(mine);
    const left = await killAndWait(dockerd, graceful ? 'SIGTERM' : 'SIGKILL', 15_000);
    for (const pid of left) signal(pid, 'SIGKILL');
    await killAndWait([readPidFile(this.containerdPidFile)].filter(mine), 'SIGKILL', 5000);
  }
}

/**
 * dockerd 20.10 uses /run/containerd/containerd.sock when that file exists instead
 * of starting its own containerd. If a live one answers there, engines are kept
 * apart by containerd namespaces; a dead socket file would make dockerd fail.
 */
async function sharedContainerdRunning(): Promise<boolean> {
  if (!fs.existsSync(SHARED_CONTAINERD_SOCK)) return false;
  const alive = await new Promise<boolean>((resolve) => {
    const s = net.connect(SHARED_CONTAINERD_SOCK, () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
  if (!alive) {
    throw new BedError(`${SHARED_CONTAINERD_SOCK} exists but nothing listens on it; dockerd 20.10 would try to use it. Remove it (it is not ours).`);
  }
  return true;
}
