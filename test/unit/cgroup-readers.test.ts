import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FileReader, KeyTable, countLines, parseKeyValues, parseLimitAt, parseSingle } from '../../exporter/cgroup/fastread.js';
import { detectLayout } from '../../core/cgroup/layout.js';
import { parseProcCgroup } from '../../core/cgroup/proc-cgroup.js';
import { conventionalPaths, expandSlice, resolveCgroupPaths } from '../../exporter/cgroup/resolve.js';
import { CgroupReader, S } from '../../exporter/cgroup/reader.js';
import { isSwarmwatchError } from '../../core/errors.js';

const FIX = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/cgroup');
const V1 = path.join(FIX, 'v1');
const V1SD = path.join(FIX, 'v1-systemd');
const V2 = path.join(FIX, 'v2');

// Recorded on a 20.10.24 engine with --cgroup-parent /swrec (kernel 6.x, cgroup v1 hybrid, cpu and cpuacct separate).
const LIMITED = { id: '192d8b5da3f35e6ee96b07728c654768c7df60271b603bb4c5940364cb29d693', pid: 7351, cgroupParent: '/swrec' };
const PLAIN = { id: '8d4a059af1702afa549e6cce911bfc407a3f5f19b0939eb265df9b5df7d7e47e', pid: 7402, cgroupParent: '/swrec' };
const MEM = { id: 'ec5f32c05100e3053da0f08eaae6bc4f27e5a6fd35fb396b98b2219c0f98caec', pid: 7453, cgroupParent: '/swrec' };
const OOM = { id: 'f9259199bca742186e324ed19f74c5e5da6035d3c99da6fcb06ad26873f6811a', pid: 7626, cgroupParent: '/swrec' };

describe('fastread parsers', () => {
  const b = (s: string) => Buffer.from(s, 'latin1');
  it('parses single values, max, -1 and rejects garbage', () => {
    expect(parseSingle(b('4898816\n'), 8)).toBe(4898816);
    expect(parseSingle(b('max\n'), 4, true)).toBe(Infinity);
    expect(parseSingle(b('-1\n'), 3, true)).toBe(-1);
    expect(parseSingle(b('12x\n'), 4)).toBeNaN();
    expect(parseSingle(b(''), 0)).toBeNaN();
    expect(parseSingle(b('9223372036854771712\n'), 20)).toBeGreaterThan(2 ** 62);
    const q = b('max 100000\n');
    expect(parseLimitAt(q, 0, q.length)).toBe(Infinity);
  });
  it('counts lines with or without a trailing newline', () => {
    expect(countLines(b('1\n2\n3\n'), 6)).toBe(3);
    expect(countLines(b('1\n2'), 3)).toBe(2);
    expect(countLines(b(''), 0)).toBe(0);
  });
  it('finds keys byte-wise and flags malformed values', () => {
    const t = new KeyTable([['total_rss', 0], ['rss', 1], ['pgfault', 2]]);
    const out = new Float64Array(3).fill(NaN);
    const s = b('rss 5\nrss_huge 7\ntotal_rss 9\nfoo bar\npgfault 11\n');
    expect(parseKeyValues(s, s.length, t, out)).toBe(3);
    expect([...out]).toEqual([9, 5, 11]);
    const bad = b('rss x\n');
    expect(parseKeyValues(bad, bad.length, t, out)).toBe(-1);
  });
  it('reads files larger than its buffer and reports errno codes', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swfr-'));
    const big = 'x'.repeat(10_000);
    fs.writeFileSync(path.join(dir, 'big'), big);
    const r = new FileReader(1024);
    expect(r.read(path.join(dir, 'big'))).toBe(true);
    expect(r.len).toBe(10_000);
    expect(r.read(path.join(dir, 'missing'))).toBe(false);
    expect(r.failure).toBe('ENOENT');
    expect(r.read(dir)).toBe(false);
    expect(r.failure).toBe('EISDIR');
    fs.rmSync(dir, { recursive: true });
  });
});

describe('cgroup layout detection', () => {
  it('v1 hybrid with separate cpu and cpuacct mounts (recorded host layout)', () => {
    const l = detectLayout(V1);
    expect(l.mode).toBe('hybrid');
    expect(l.readV2).toBe(false);
    expect(l.v1.cpu).toBe(path.join(V1, 'sys/fs/cgroup/cpu'));
    expect(l.v1.cpuacct).toBe(path.join(V1, 'sys/fs/cgroup/cpuacct'));
    expect(l.v1.memory).toBe(path.join(V1, 'sys/fs/cgroup/memory'));
    expect(l.unified).toBe(path.join(V1, 'sys/fs/cgroup/unified'));
  });
  it('v1 with a combined cpu,cpuacct mount and symlinks', () => {
    const l = detectLayout(V1SD);
    expect(l.mode).toBe('v1');
    expect(l.v1.cpu).toBe(path.join(V1SD, 'sys/fs/cgroup/cpu,cpuacct'));
    expect(l.v1.cpuacct).toBe(path.join(V1SD, 'sys/fs/cgroup/cpu,cpuacct'));
  });
  it('v2 unified', () => {
    const l = detectLayout(V2);
    expect(l.mode).toBe('v2');
    expect(l.readV2).toBe(true);
    expect(l.unified).toBe(path.join(V2, 'sys/fs/cgroup'));
  });
  it('throws a coded error when there is no hierarchy', () => {
    let err: unknown;
    try { detectLayout('/nonexistent-root'); } catch (e) { err = e; }
    expect(isSwarmwatchError(err, 'SW_ERR_CGROUP_READ')).toBe(true);
  });
});

describe('cgroup path resolution', () => {
  it('parses /proc/<pid>/cgroup', () => {
    const pc = parseProcCgroup('4:cpu,cpuacct:/a\n11:memory:/b\n1:name=systemd:/c\n0::/d\n');
    expect(pc.v1.get('cpu')).toBe('/a');
    expect(pc.v1.get('cpuacct')).toBe('/a');
    expect(pc.v1.get('memory')).toBe('/b');
    expect(pc.unified).toBe('/d');
  });
  it('expands systemd slices', () => {
    expect(expandSlice('system.slice')).toBe('/system.slice');
    expect(expandSlice('user-1000.slice')).toBe('/user.slice/user-1000.slice');
    expect(expandSlice('a-b-c.slice')).toBe('/a.slice/a-b.slice/a-b-c.slice');
  });
  it('builds conventional candidates for both drivers', () => {
    expect(conventionalPaths('X', '', 'cgroupfs')).toEqual(['/docker/X', '/system.slice/docker-X.scope']);
    expect(conventionalPaths('X', '', 'systemd')).toEqual(['/system.slice/docker-X.scope', '/docker/X']);
    expect(conventionalPaths('X', 'my.slice')[0]).toBe('/my.slice/docker-X.scope');
    expect(conventionalPaths('X', 'swrec')[0]).toBe('/swrec/X');
  });
  it('resolves from /proc/<pid>/cgroup on the recorded v1 tree', () => {
    const p = resolveCgroupPaths(detectLayout(V1), LIMITED);
    expect(p?.source).toBe('proc');
    expect(p?.id).toBe(`/swrec/${LIMITED.id}`);
    expect(p?.v1.cpuacct).toBe(path.join(V1, 'sys/fs/cgroup/cpuacct/swrec', LIMITED.id));
  });
  it('falls back to the cgroupfs convention without a pid', () => {
    const p = resolveCgroupPaths(detectLayout(V1), { ...LIMITED, pid: 0 });
    expect(p?.source).toBe('convention');
    expect(p?.id).toBe(`/swrec/${LIMITED.id}`);
  });
  it('resolves systemd scopes by /proc and by convention', () => {
    const l = detectLayout(V1SD);
    const c = 'cccc000000000000000000000000000000000000000000000000000000000003';
    const d = 'dddd000000000000000000000000000000000000000000000000000000000004';
    expect(resolveCgroupPaths(l, { id: c, pid: 777, cgroupParent: '' })).toMatchObject({ source: 'proc', id: `/system.slice/docker-${c}.scope` });
    expect(resolveCgroupPaths(l, { id: d, pid: 0, cgroupParent: '' }, 'systemd')).toMatchObject({ source: 'convention', id: `/system.slice/docker-${d}.scope` });
    // cgroupfs driver guessed wrong: the other convention is still tried.
    expect(resolveCgroupPaths(l, { id: d, pid: 0, cgroupParent: '' }, 'cgroupfs')?.id).toBe(`/system.slice/docker-${d}.scope`);
  });
  it('resolves v2 by /proc (systemd) and convention (cgroupfs)', () => {
    const l = detectLayout(V2);
    const a = 'aaaa000000000000000000000000000000000000000000000000000000000001';
    const b = 'bbbb000000000000000000000000000000000000000000000000000000000002';
    expect(resolveCgroupPaths(l, { id: a, pid: 4242, cgroupParent: '' })).toMatchObject({ source: 'proc', id: `/system.slice/docker-${a}.scope` });
    expect(resolveCgroupPaths(l, { id: b, pid: 0, cgroupParent: '' })).toMatchObject({ source: 'convention', id: `/docker/${b}` });
    expect(resolveCgroupPaths(l, { id: 'ffff', pid: 0, cgroupParent: '' })).toBeUndefined();
  });
});

describe('CgroupReader on recorded v1 files', () => {
  const layout = detectLayout(V1);
  const open = (c: typeof LIMITED, percpu = false) => {
    const rd = new CgroupReader(layout, percpu);
    const cg = rd.open(resolveCgroupPaths(layout, c)!, c.pid);
    const res = rd.read(cg);
    return { rd, cg, res };
  };
  it('limited container: cpu, memory, spec, processes (exact recorded values)', () => {
    const { cg, res } = open(LIMITED);
    expect(res).toEqual({ gone: false, problems: [] });
    const v = cg.v;
    expect(v[S.CPU_TOTAL_NS]).toBe(130705382);
    expect(v[S.CPU_USER_S]).toBe(0.06);
    expect(v[S.CPU_SYSTEM_S]).toBe(0.06);
    expect(v[S.CFS_PERIODS]).toBe(76);
    expect(v[S.CFS_THROTTLED_PERIODS]).toBe(1);
    expect(v[S.CFS_THROTTLED_S]).toBe(0.050159294);
    expect(v[S.MEM_USAGE]).toBe(4898816);
    expect(v[S.MEM_WORKING_SET]).toBe(4898816);
    expect(v[S.MEM_RSS]).toBe(4231168);
    expect(v[S.MEM_CACHE]).toBe(61440);
    expect(v[S.MEM_MAPPED_FILE]).toBe(0);
    expect(v[S.MEM_SWAP]).toBe(0);
    expect(v[S.MEM_MAX_USAGE]).toBe(8892416);
    expect(v[S.MEM_FAILCNT]).toBe(0);
    expect(v[S.PGFAULT]).toBe(6165);
    expect(v[S.PGMAJFAULT]).toBe(1);
    expect(v[S.OOM_KILL]).toBe(0);
    expect(v[S.PROCESSES]).toBe(2);
    expect(v[S.THREADS]).toBe(2);
    expect(cg.spec).toEqual({ cpuPeriod: 100000, cpuQuota: 50000, cpuShares: 512, memLimit: 67108864, memReservation: 33554432, swapLimit: 134217728, threadsMax: 100, useHierarchy: true });
    expect(cg.net).toEqual([]); // --bridge=none: only lo
    expect(cg.blk).toEqual([]); // blkio reads "Total 0" on this host
  });
  it('working set subtracts total_inactive_file (page cache of a 20 MB file)', () => {
    const { cg } = open(MEM);
    expect(cg.v[S.MEM_USAGE]).toBe(18735104);
    expect(cg.v[S.INACTIVE_FILE]).toBe(17825792);
    expect(cg.v[S.MEM_WORKING_SET]).toBe(18735104 - 17825792);
    expect(cg.v[S.MEM_CACHE]).toBe(17829888);
  });
  it('unlimited container: limits above 2^62 are 0, no quota, pids.max max → 0', () => {
    const { cg } = open(PLAIN, true);
    expect(cg.spec).toMatchObject({ cpuQuota: 0, cpuShares: 1024, memLimit: 0, memReservation: 0, swapLimit: 0, threadsMax: 0 });
    expect(cg.v[S.CPU_USER_S]).toBe(44.67);
    expect(cg.percpu).toEqual([26934915122, 17755138367]);
  });
  it('oom_kill from memory.oom_control and eth0 from /proc/<pid>/net/dev', () => {
    const { cg } = open(OOM);
    expect(cg.v[S.OOM_KILL]).toBe(1);
    expect(cg.spec?.memLimit).toBe(8388608);
    expect(cg.net).toHaveLength(1);
    expect(cg.net[0]!.name).toBe('eth0');
    expect([...cg.net[0]!.v]).toEqual([1306, 15, 0, 0, 0, 0, 0, 0]);
  });
});

describe('CgroupReader on v1 systemd layout (combined cpu,cpuacct, synthetic blkio in kernel format)', () => {
  it('reads blkio bytes and ios per device from the throttle group', () => {
    const layout = detectLayout(V1SD);
    const rd = new CgroupReader(layout);
    const c = { id: 'cccc000000000000000000000000000000000000000000000000000000000003', pid: 777, cgroupParent: '' };
    const cg = rd.open(resolveCgroupPaths(layout, c)!, c.pid);
    expect(rd.read(cg).problems).toEqual([]);
    expect(cg.blk.map((d) => [d.major, d.minor, [...d.bytes], [...d.ios]])).toEqual([
      [8, 0, [1459200, 314773504, 300000000, 16232704, 0, 316232704], [192, 353, 300, 245, 0, 545]],
      [253, 0, [4096, 0, 0, 4096, 0, 4096], [1, 0, 0, 1, 0, 1]],
    ]);
    expect(cg.v[S.CPU_TOTAL_NS]).toBe(44690053489);
  });
});

describe('CgroupReader on v2 fixtures (kernel 6.x formats)', () => {
  const layout = detectLayout(V2);
  const a = { id: 'aaaa000000000000000000000000000000000000000000000000000000000001', pid: 4242, cgroupParent: '' };
  const b = { id: 'bbbb000000000000000000000000000000000000000000000000000000000002', pid: 0, cgroupParent: '' };
  it('limited container', () => {
    const rd = new CgroupReader(layout);
    const cg = rd.open(resolveCgroupPaths(layout, a)!, a.pid);
    expect(rd.read(cg).problems).toEqual([]);
    const v = cg.v;
    expect(v[S.CPU_TOTAL_NS]).toBe(2874561000);
    expect(v[S.CPU_USER_S]).toBe(1.903224);
    expect(v[S.CPU_SYSTEM_S]).toBe(0.971337);
    expect(v[S.CFS_PERIODS]).toBe(412);
    expect(v[S.CFS_THROTTLED_PERIODS]).toBe(37);
    expect(v[S.CFS_THROTTLED_S]).toBe(1.843012);
    expect(v[S.MEM_USAGE]).toBe(47341568);
    expect(v[S.MEM_WORKING_SET]).toBe(47341568 - 12582912);
    expect(v[S.MEM_RSS]).toBe(30846976);
    expect(v[S.MEM_CACHE]).toBe(15343616);
    expect(v[S.MEM_MAPPED_FILE]).toBe(4325376);
    expect(v[S.MEM_SWAP]).toBe(1048576);
    expect(v[S.MEM_MAX_USAGE]).toBe(52817920);
    expect(v[S.MEM_FAILCNT]).toBe(5);
    expect(v[S.EVENTS_HIGH]).toBe(0);
    expect(v[S.EVENTS_MAX]).toBe(5);
    expect(v[S.OOM_KILL]).toBe(2);
    expect(v[S.PGFAULT]).toBe(19843);
    expect(v[S.PGMAJFAULT]).toBe(27);
    expect(v[S.PROCESSES]).toBe(3);
    expect(v[S.THREADS]).toBe(7);
    // cpu.weight 20 (what runc writes for --cpu-shares 512) → cAdvisor's conversion gives 500.
    expect(cg.spec).toEqual({ cpuPeriod: 100000, cpuQuota: 50000, cpuShares: 500, memLimit: 67108864, memReservation: 0, swapLimit: 0, threadsMax: 100, useHierarchy: true });
    expect(cg.blk.map((d) => [d.major, d.minor, d.bytes[0], d.bytes[1], d.ios[0], d.ios[1]])).toEqual([[8, 0, 1459200, 314773504, 192, 353], [253, 0, 4096, 0, 1, 0]]);
    expect(cg.net.map((n) => [n.name, ...n.v])).toEqual([['eth0', 5386712, 4120, 1, 3, 421337, 3012, 2, 4], ['eth1', 936, 12, 0, 0, 656, 8, 0, 0]]);
  });
  it('unlimited container found by convention: max → 0, no quota, no memory.peak, working set floored at 0', () => {
    const rd = new CgroupReader(layout);
    const cg = rd.open(resolveCgroupPaths(layout, b)!, b.pid);
    expect(rd.read(cg).problems).toEqual([]);
    // cpu.weight 100 (the default) → 2 + floor(99 * 262142 / 9999) = 2597, as cAdvisor computes it.
    expect(cg.spec).toEqual({ cpuPeriod: 100000, cpuQuota: 0, cpuShares: 2597, memLimit: 0, memReservation: 0, swapLimit: 0, threadsMax: 0, useHierarchy: true });
    expect(cg.v[S.MEM_MAX_USAGE]).toBeNaN();
    expect(cg.v[S.MEM_WORKING_SET]).toBe(0); // usage 1000000 < inactive_file 1500000
    expect(cg.blk).toEqual([]);
    expect(cg.net).toEqual([]);
  });
});

describe('CgroupReader error handling', () => {
  function copyTree(src: string): string {
    const dst = fs.mkdtempSync(path.join(os.tmpdir(), 'swcg-'));
    fs.cpSync(src, dst, { recursive: true, verbatimSymlinks: true });
    return dst;
  }
  it('reports a vanished container as gone, malformed files as parse problems, unreadable ones as read problems', () => {
    const root = copyTree(V1);
    try {
      const layout = detectLayout(root);
      const rd = new CgroupReader(layout);
      const cg = rd.open(resolveCgroupPaths(layout, LIMITED)!, LIMITED.pid);
      const memDir = path.join(root, 'sys/fs/cgroup/memory/swrec', LIMITED.id);
      fs.writeFileSync(path.join(memDir, 'memory.stat'), 'total_rss notanumber\n');
      const cpuStat = path.join(root, 'sys/fs/cgroup/cpu/swrec', LIMITED.id, 'cpu.stat');
      fs.rmSync(cpuStat);
      fs.mkdirSync(cpuStat); // read fails with EISDIR (as root, EACCES cannot be provoked)
      const res = rd.read(cg);
      expect(res.gone).toBe(false);
      expect(res.problems.map((p) => [p.code, path.basename(p.file)])).toEqual([
        ['SW_ERR_CGROUP_READ', 'cpu.stat'],
        ['SW_ERR_CGROUP_PARSE', 'memory.stat'],
      ]);
      expect(cg.v[S.MEM_RSS]).toBeNaN();
      expect(cg.v[S.CFS_PERIODS]).toBeNaN();
      expect(cg.v[S.CPU_TOTAL_NS]).toBe(130705382);
      fs.rmSync(memDir, { recursive: true });
      expect(rd.read(cg).gone).toBe(true);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
