/**
 * Low-level helpers shared by the test bed: running commands, reading /proc,
 * cgroup and mount cleanup, ownership records. Nothing here knows about Docker.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Everything the bed creates on disk lives below this directory. */
export const BED_ROOT = '/tmp/swarmwatch-bed';
/** Prefix of every network namespace and host link the bed creates. */
export const NET_PREFIX = 'swtest';
/** Prefix of every cgroup (below each controller root) the bed creates. */
export const CGROUP_PREFIX = 'swarmwatch-test-';
export const CGROUP_ROOT = '/sys/fs/cgroup';

/** An error raised by the bed. The message names what failed; `logTail` holds the daemon log if any. */
export class BedError extends Error {
  constructor(message: string, readonly logTail?: string) {
    super(logTail ? `${message}\n--- last lines of the dockerd log ---\n${logTail}` : message);
    this.name = 'BedError';
  }
}

export function randomId(bytes = 3): string {
  return randomBytes(bytes).toString('hex');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What a successful waitFor yields: the predicate's value minus the falsy cases. */
export type Truthy<T> = Exclude<T, false | null | undefined | 0 | ''>;

export interface WaitOptions {
  intervalMs?: number;
  /** Used in the timeout error: "timed out after Nms waiting for <what>". */
  what?: string;
}

/**
 * Polls `predicate` until it returns a truthy value and returns that value.
 * Exceptions thrown by the predicate count as "not yet"; the last one is
 * reported if the deadline passes, because it usually explains the timeout.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  timeoutMs: number,
  opts: WaitOptions = {},
): Promise<Truthy<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value as Truthy<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new BedError(`timed out after ${timeoutMs} ms waiting for ${opts.what ?? 'condition'}${why}`);
    }
    await sleep(opts.intervalMs ?? 200);
  }
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface RunOptions {
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Throw a BedError on a non-zero exit code (default true). */
  check?: boolean;
}

/** Runs a short-lived command to completion, capturing its output. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = opts.timeoutMs
      ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs)
      : undefined;
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(new BedError(`could not run ${cmd}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const result = {
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        code: code ?? 128,
      };
      if (result.code !== 0 && opts.check !== false) {
        const how = signal ? `was killed by ${signal}` : `exited ${result.code}`;
        reject(new BedError(`${cmd} ${args.join(' ')} ${how}: ${result.stderr.trim()}`));
      } else {
        resolve(result);
      }
    });
    child.stdin.on('error', () => undefined); // the command may exit before reading all input
    child.stdin.end(opts.input ?? '');
  });
}

/**
 * Last `lines` lines of a text file, or '' when it cannot be read. Lines
 * containing `skip` are left out (dockerd's gRPC chatter buries the real errors).
 */
export function tailFile(file: string, lines = 30, skip = 'module=grpc'): string {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.trimEnd().split('\n').filter((l) => !skip || !l.includes(skip)).slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

/** Writes via rename so a concurrent reader never sees half a file. */
export function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(value, null, 2));
  fs.renameSync(tmp, file);
}

// ---------------------------------------------------------------- processes

export interface ProcStat {
  /** The command name (comm). */
  name: string;
  state: string;
  ppid: number;
  startTime: number;
  /** CPU clock ticks in user and kernel mode, and those of reaped children (utime, stime, cutime, cstime). */
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
  /** Minor page faults (minflt): pages the kernel had to map in on first touch, e.g. for freshly allocated memory. */
  minorFaults: number;
}

/** USER_HZ: the unit of ProcStat's tick fields and of /proc/stat's CPU times (100 on every Linux ABI Node runs on). */
export const CLOCK_TICKS_PER_SECOND = 100;

export function readProcStat(pid: number): ProcStat | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return {
      name: text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')),
      state: fields[0] ?? '?', ppid: Number(fields[1]), startTime: Number(fields[19]),
      utime: Number(fields[11]), stime: Number(fields[12]), cutime: Number(fields[13]), cstime: Number(fields[14]),
      minorFaults: Number(fields[7]),
    };
  } catch {
    return undefined;
  }
}

/** True when the process exists and is not a zombie (a zombie still answers kill(pid, 0)). */
export function isAlive(pid: number | undefined): boolean {
  if (!pid || pid <= 0) return false;
  const stat = readProcStat(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
}

export function cmdlineOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

export function allPids(): number[] {
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
}

/** Live processes whose command line contains `needle` (never this process). */
export function pidsWithCmdline(needle: string): number[] {
  return allPids().filter((pid) => pid !== process.pid && isAlive(pid) && cmdlineOf(pid).includes(needle));
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Sends `sig` to every pid and waits until none is alive; returns the pids still alive at the deadline. */
export async function killAndWait(pids: number[], sig: NodeJS.Signals, timeoutMs: number): Promise<number[]> {
  for (const pid of pids) signal(pid, sig);
  const deadline = Date.now() + timeoutMs;
  let alive = pids.filter(isAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(50);
    alive = alive.filter(isAlive);
  }
  return alive;
}

/** Reads a pid file; undefined if missing or unparsable. */
export function readPidFile(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- ownership

/** Identifies the process responsible for tearing a resource down. */
export interface OwnerRecord {
  pid: number;
  startTime: number;
}

export function currentOwner(): OwnerRecord {
  return { pid: process.pid, startTime: readProcStat(process.pid)?.startTime ?? 0 };
}

/** The start time guards against pid reuse after a crash. */
export function ownerAlive(owner: OwnerRecord | undefined): boolean {
  if (!owner) return false;
  return isAlive(owner.pid) && readProcStat(owner.pid)?.startTime === owner.startTime;
}

// ---------------------------------------------------------------- mounts & cgroups

/** Mount points at or below `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  const text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  const points = text
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\(\d{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8))))
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Lazily unmounts overlay, shm and netns mounts a killed dockerd left behind, so rm -rf cannot hit them. */
export async function unmountUnder(dir: string): Promise<void> {
  const points = mountsUnder(dir);
  if (points.length > 0) await run('umount', ['-l', ...points], { check: false });
}

/** Controller hierarchies mounted below /sys/fs/cgroup (cpu, memory, ..., unified). */
export function cgroupRoots(): string[] {
  try {
    return fs
      .readdirSync(CGROUP_ROOT, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => path.join(CGROUP_ROOT, d.name));
  } catch {
    return [];
  }
}

/** Pids in a cgroup subtree (one controller is enough: every task is in every v1 hierarchy). */
export function pidsInCgroup(name: string): number[] {
  const pids = new Set<number>();
  for (const root of cgroupRoots()) {
    walkDirs(path.join(root, name), (dir) => {
      try {
        for (const line of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n')) {
          if (line) pids.add(Number(line));
        }
      } catch {
        // vanished meanwhile
      }
    });
  }
  return [...pids];
}

/** Removes a cgroup subtree in every hierarchy, children first (rmdir only works on empty cgroups). */
export function removeCgroup(name: string): string[] {
  const failed: string[] = [];
  for (const root of cgroupRoots()) {
    const dirs: string[] = [];
    walkDirs(path.join(root, name), (dir) => dirs.push(dir));
    for (const dir of dirs.reverse()) {
      try {
        fs.rmdirSync(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') failed.push(dir);
      }
    }
  }
  return failed;
}

/** Visits `dir` and its subdirectories, parents before children. */
function walkDirs(dir: string, visit: (dir: string) => void): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  visit(dir);
  for (const e of entries) if (e.isDirectory()) walkDirs(path.join(dir, e.name), visit);
}

/** Kills whatever still runs in a cgroup subtree and removes the subtree. */
export async function destroyCgroup(name: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const pids = pidsInCgroup(name);
    if (pids.length > 0) await killAndWait(pids, 'SIGKILL', 3000);
    if (removeCgroup(name).length === 0) return;
    await sleep(200);
  }
}

/** Removes a directory tree after unmounting anything mounted inside it. */
export async function removeTree(dir: string): Promise<void> {
  await unmountUnder(dir);
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

// ---------------------------------------------------------------- subnet claims

const CLAIM_DIR = path.join(BED_ROOT, 'claims');

/**
 * Claims a name (a /24 prefix, a link name) for this process with an O_EXCL file,
 * so parallel test workers never pick the same one. Returns false if a live owner holds it.
 * A claim whose owner died is taken over.
 */
export function claim(key: string, owner: OwnerRecord = currentOwner()): boolean {
  fs.mkdirSync(CLAIM_DIR, { recursive: true });
  const file = path.join(CLAIM_DIR, key);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, JSON.stringify(owner), { flag: 'wx' });
      return true;
    } catch {
      const holder = safeReadJson<OwnerRecord>(file);
      if (holder && ownerAlive(holder)) return false;
      if (!holder && fileAgeMs(file) < 5000) return false; // being written right now
      fs.rmSync(file, { force: true });
    }
  }
  return false;
}

export function releaseClaim(key: string): void {
  fs.rmSync(path.join(CLAIM_DIR, key), { force: true });
}

/** Removes claims whose owner is gone. */
export function releaseStaleClaims(): void {
  let files: string[];
  try {
    files = fs.readdirSync(CLAIM_DIR);
  } catch {
    return;
  }
  for (const f of files) {
    const file = path.join(CLAIM_DIR, f);
    const holder = safeReadJson<OwnerRecord>(file);
    if (holder ? !ownerAlive(holder) : fileAgeMs(file) > 60_000) fs.rmSync(file, { force: true });
  }
}

export function safeReadJson<T>(file: string): T | undefined {
  try {
    return readJson<T>(file);
  } catch {
    return undefined;
  }
}

export function fileAgeMs(file: string): number {
  try {
    return Date.now() - fs.statSync(file).mtimeMs;
  } catch {
    return Infinity;
  }
}

// ---------------------------------------------------------------- containerd shims

const SHIM_SOCKET_DIR = '/run/containerd/s/';

/**
 * SIGKILLed shims leave their sockets in the shared /run/containerd/s; a new shim
 * for the same container would fail on them, and they pile up. Removes only the
 * sockets named in our own bundles (exec-root/.../<id>/address) whose shim is gone.
 */
export function removeDeadShimSockets(execRoot: string): void {
  const tasks = path.join(execRoot, 'containerd', 'daemon', 'io.containerd.runtime.v2.task');
  for (const ns of readdirOrEmpty(tasks)) {
    for (const id of readdirOrEmpty(path.join(tasks, ns))) {
      const address = readOrEmpty(path.join(tasks, ns, id, 'address')).trim().replace(/^unix:\/\//, '');
      if (!address.startsWith(SHIM_SOCKET_DIR)) continue;
      const shimAlive = pidsWithCmdline(`-id ${id}`).some((pid) => cmdlineOf(pid).includes(execRoot));
      if (!shimAlive) fs.rmSync(address, { force: true });
    }
  }
}

export function readdirOrEmpty(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function readOrEmpty(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
