import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PositionTracker, type Cursor } from '../../log-shipper/cursor.js';
import { CursorStore, type CursorEntry } from '../../log-shipper/cursor-store.js';

const t = (sec: number, nsec = 0) => ({ sec, nsec });

describe('PositionTracker', () => {
  it('counts entries that share one timestamp and skips exactly those already shipped', () => {
    // Shipped: everything before 10.5, and 2 of the 3 entries at exactly 10.5.
    const tr = new PositionTracker({ time: t(10, 5), count: 2 });
    const seen = [t(10, 5), t(10, 5), t(10, 5), t(10, 6), t(10, 6)].map((time) => tr.advance(time));
    expect(seen.map((s) => s.skip)).toEqual([true, true, false, false, false]);
    expect(seen.map((s) => s.position.count)).toEqual([1, 2, 3, 1, 2]);
    expect(tr.position).toEqual({ time: t(10, 6), count: 2 });
  });

  it('keeps the skip target when a reopened stream ends before reaching it', () => {
    const tr = new PositionTracker({ time: t(10), count: 3 });
    tr.advance(t(10));
    expect(tr.position).toEqual({ time: t(10), count: 3 });
  });

  it('ships what follows the cursor\'s own entry even when it is stamped earlier (a clock stepped back)', () => {
    const tr = new PositionTracker({ time: t(100, 7), count: 1 });
    const seen = [t(99, 1), t(100, 7), t(40, 1), t(40, 2)].map((time) => tr.advance(time));
    expect(seen.map((s) => s.skip)).toEqual([true, true, false, false]);
    expect(tr.position).toEqual({ time: t(40, 2), count: 1 });
  });

  it('starts from nothing without a cursor', () => {
    const tr = new PositionTracker(undefined);
    expect(tr.position).toBeUndefined();
    expect(tr.advance(t(1)).skip).toBe(false);
  });
});

describe('CursorStore', () => {
  const dirs: string[] = [];
  afterEach(() => { for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true }); });
  const tmp = () => { const d = fs.mkdtempSync(path.join(os.tmpdir(), 'sw-cursor-')); dirs.push(d); return d; };
  const entry = (c: Cursor): CursorEntry => ({ cursor: c, name: 'web' });

  it('tells the next start about a write announced and never committed (a kill -9 in between), and nothing once it was committed or taken back', () => {
    const dir = tmp();
    const store = new CursorStore(dir);
    store.load();
    store.writeNow(new Map([['a', entry({ time: t(1700000000, 1), count: 1 })]]));
    const next = new Map([['a', entry({ time: t(1700000005, 5), count: 2 })], ['b', { cursor: { time: t(1700000006), count: 1 }, name: 'db' }]]);
    const write = store.prepare(next);
    write.announce(42);
    // What a process killed right after its write leaves: the state before the write, and the write announced.
    const killed = new CursorStore(dir).load();
    expect(killed.entries.get('a')!.cursor).toEqual({ time: t(1700000000, 1), count: 1 });
    expect(killed.entries.has('b')).toBe(false);
    expect(killed.inFlight).toEqual({ lines: 42, containers: [
      { id: 'a', name: 'web', to: { time: t(1700000005, 5), count: 2 } },
      { id: 'b', name: 'db', to: { time: t(1700000006), count: 1 } },
    ] });
    write.commit();
    const committed = new CursorStore(dir).load();
    expect(committed.inFlight).toBeUndefined();
    expect(committed.entries.get('b')!.cursor).toEqual({ time: t(1700000006), count: 1 });
    // A write that failed (nothing in the kernel) is taken back; so is one still announced at a clean stop.
    store.prepare(new Map([...next, ['a', entry({ time: t(1700000009), count: 1 })]])).announce(3);
    expect(new CursorStore(dir).load().inFlight?.lines).toBe(3);
    store.withdraw();
    expect(new CursorStore(dir).load().inFlight).toBeUndefined();
    store.prepare(new Map([...next, ['a', entry({ time: t(1700000010), count: 1 })]])).announce(4);
    store.writeNow(next);
    const stopped = new CursorStore(dir).load();
    expect(stopped.inFlight).toBeUndefined();
    expect(stopped.entries.get('a')!.cursor).toEqual({ time: t(1700000005, 5), count: 2 });
  });

  it('after a kill during the very first write on this node: not a first start, and that write announced', () => {
    const dir = tmp();
    const store = new CursorStore(dir);
    expect(store.load().fresh).toBe(true);
    store.prepare(new Map([['a', entry({ time: t(1700000000, 1), count: 1 })]])).announce(5);
    const killed = new CursorStore(dir).load();
    expect({ fresh: killed.fresh, lines: killed.inFlight?.lines, entries: killed.entries.size }).toEqual({ fresh: false, lines: 5, entries: 0 });
  });

  it('stays small while a receiver that never reads makes every write announced and taken back (the journals are written again from their start)', async () => {
    const first = new Map([['a', entry({ time: t(1700000000, 1), count: 1 })]]);
    const stalled = new Map([['a', entry({ time: t(1700000001), count: 1 })]]);
    const journalSizes = (dir: string) => ['cursors-a', 'cursors-b'].map((f) => { try { return fs.statSync(path.join(dir, f)).size; } catch { return 0; } });
    // The bytes one announcement and its withdrawal append, on a store of their own.
    const probeDir = tmp();
    const probe = new CursorStore(probeDir);
    probe.load();
    probe.writeNow(first);
    const before = journalSizes(probeDir)[0]!;
    probe.prepare(stalled).announce(10);
    probe.withdraw();
    const pairBytes = journalSizes(probeDir)[0]! - before;
    probe.close();

    const dir = tmp();
    const store = new CursorStore(dir);
    store.load();
    store.writeNow(first);
    // Far denser than the sender's polls of a full socket (at most one each 1–20 ms), for 3.2 s: three snapshots.
    let pairs = 0;
    for (const until = Date.now() + 3200; Date.now() < until;) {
      for (let i = 0; i < 50; i++) { store.prepare(stalled).announce(10); store.withdraw(); pairs++; }
      await new Promise((r) => setTimeout(r, 10));
    }
    // Without snapshots during the stall, one journal would hold every pair of the 3.2 s.
    expect(pairBytes).toBeGreaterThan(0);
    expect(Math.max(...journalSizes(dir)), `largest journal, of ${pairs * pairBytes} bytes appended`).toBeLessThan(pairs * pairBytes * 0.7);
    expect(new CursorStore(dir).load().inFlight).toBeUndefined();
    await store.idle();
    store.close();
  });

  it('changes the state only on commit, and round-trips nanoseconds', () => {
    const dir = tmp();
    const store = new CursorStore(dir);
    expect(store.load().fresh).toBe(true);
    store.writeNow(new Map([['a', entry({ time: t(1700000000, 1), count: 1 })]]));
    const prepared = store.prepare(new Map([['a', entry({ time: t(1700000000, 999999999), count: 7 })]]));
    expect(new CursorStore(dir).load().entries.get('a')!.cursor).toEqual({ time: t(1700000000, 1), count: 1 });
    prepared.commit();
    const { entries, fresh } = new CursorStore(dir).load();
    expect(fresh).toBe(false);
    expect(entries.get('a')!.cursor).toEqual({ time: t(1700000000, 999999999), count: 7 });
    // The durable, readable snapshot follows at stop (writeNow) or within a second.
    store.writeNow(entries);
    expect(fs.readFileSync(store.file, 'utf8')).toContain('"ts":"1700000000.999999999"');
    store.close();
  });

  it('round-trips names that need escaping, removal times and nanoseconds with leading zeros, from the journal and from the snapshot', async () => {
    const dir = tmp();
    const store = new CursorStore(dir);
    store.load();
    const state = new Map<string, CursorEntry>([
      ['a'.repeat(64), { cursor: { time: t(1_763_900_000, 7), count: 12 }, name: 'shop_"api"\\1\nünï', removedAt: 1_763_900_123_456 }],
      ['b'.repeat(64), { cursor: { time: t(1_763_900_001, 999_999_999), count: 1 }, name: 'cron' }],
    ]);
    store.prepare(state).commit();
    expect(new CursorStore(dir).load().entries, 'from the journal').toEqual(state);
    await store.idle();
    store.writeNow(state);
    store.close();
    fs.rmSync(path.join(dir, 'cursors-a'), { force: true });
    fs.rmSync(path.join(dir, 'cursors-b'), { force: true });
    expect(new CursorStore(dir).load().entries, 'from the snapshot').toEqual(state);
  });

  it('an entry changed in place (a container seen removed) or moved is written anew, the others as they were', () => {
    const dir = tmp();
    const store = new CursorStore(dir);
    const kept = entry({ time: t(5), count: 1 });
    const state = new Map([['a', entry({ time: t(1), count: 1 })], ['b', kept]]);
    store.prepare(state).commit();
    // What the shipper does: removedAt set on the entry itself; a delivery replaces the entry of the container.
    state.get('a')!.removedAt = 1234;
    store.prepare(state).commit();
    expect(new CursorStore(dir).load().entries.get('a')!.removedAt).toBe(1234);
    state.set('b', { ...kept, cursor: { time: t(6), count: 3 } });
    store.prepare(state).commit();
    const loaded = new CursorStore(dir).load().entries;
    expect(loaded.get('b')!.cursor).toEqual({ time: t(6), count: 3 });
    expect(loaded.get('a')).toEqual({ cursor: { time: t(1), count: 1 }, name: 'web', removedAt: 1234 });
    store.close();
  });

  it('a journal record cut by a crash ends the journal there, at the commit before it; a state prepared but never committed never becomes current', () => {
    const dir = tmp();
    const store = new CursorStore(dir);
    store.load();
    for (let n = 1; n <= 3; n++) (store.prepare(new Map([['a', entry({ time: t(n), count: 1 })]]))).commit();
    store.prepare(new Map([['a', entry({ time: t(99), count: 1 })]])); // the send failed: never committed
    store.close();
    expect(new CursorStore(dir).load().entries.get('a')!.cursor.time).toEqual(t(3));
    // Cut commit 3 short, as a power loss in the middle of its write would.
    const journal = path.join(dir, 'cursors-a');
    fs.truncateSync(journal, fs.statSync(journal).size - 5);
    const reopened = new CursorStore(dir);
    expect(reopened.load().entries.get('a')!.cursor.time).toEqual(t(2));
    // The next commit goes where the cut record began: it is read back, not hidden behind the broken bytes.
    reopened.prepare(new Map([['a', entry({ time: t(4), count: 1 })]])).commit();
    reopened.close();
    expect(new CursorStore(dir).load().entries.get('a')!.cursor.time).toEqual(t(4));
    // A journal broken from its first byte and no snapshot: an error naming the file, not a silent restart from scratch.
    fs.writeFileSync(journal, 'swarmwatch-cursors 3 2 10 0\n{broken');
    expect(() => new CursorStore(dir).load()).toThrow(/cursors-a: checksum or header does not match/);
  });

  it('a commit writes only the containers it moved: with 200 containers, one line of one of them is one small record', () => {
    const dir = tmp();
    const store = new CursorStore(dir);
    store.load();
    const state = new Map(Array.from({ length: 200 }, (_, i) => [`${i}`.padStart(64, 'c'), { cursor: { time: t(1), count: 1 }, name: `svc_${i}.1.x` }] as const));
    store.prepare(state).commit();
    const journal = path.join(dir, 'cursors-a');
    const before = fs.statSync(journal).size;
    expect(before).toBeGreaterThan(200 * 64);
    state.set(`${7}`.padStart(64, 'c'), { cursor: { time: t(2), count: 1 }, name: 'svc_7.1.x' });
    store.prepare(state).commit();
    expect(fs.statSync(journal).size - before).toBeLessThan(250);
    // A container whose entry went away (expired) is gone after a restart too.
    state.delete(`${9}`.padStart(64, 'c'));
    store.prepare(state).commit();
    store.close();
    const loaded = new CursorStore(dir).load().entries;
    expect(loaded.size).toBe(199);
    expect(loaded.get(`${7}`.padStart(64, 'c'))!.cursor.time).toEqual(t(2));
    expect(loaded.get(`${8}`.padStart(64, 'c'))!.cursor.time).toEqual(t(1));
    expect(loaded.has(`${9}`.padStart(64, 'c'))).toBe(false);
  });

  it('snapshots move commits to the other journal, emptied first: the journals stay small and a restart finds the last commit', () => {
    const dir = tmp();
    const store = new CursorStore(dir);
    store.load();
    const state = new Map([['a', entry({ time: t(0), count: 1 })], ['b', entry({ time: t(0), count: 1 })]]);
    for (let round = 1; round <= 4; round++) {
      for (let n = 1; n <= 50; n++) {
        state.set(n % 2 ? 'a' : 'b', entry({ time: t(round * 100 + n), count: 1 }));
        store.prepare(state).commit();
      }
      // What the once-a-second snapshot does, at once (writeNow is the stop's: commit, fsync, snapshot).
      store.writeNow(state);
    }
    state.set('a', entry({ time: t(999), count: 2 }));
    store.prepare(state).commit();
    // Four snapshots: each journal holds at most the commits since the snapshot before last, not all 201.
    const sizes = ['cursors-a', 'cursors-b'].map((f) => fs.statSync(path.join(dir, f)).size);
    expect(Math.max(...sizes)).toBeLessThan(60 * 200);
    store.close();
    const loaded = new CursorStore(dir).load().entries;
    expect(loaded.get('a')!.cursor).toEqual({ time: t(999), count: 2 });
    expect(loaded.get('b')!.cursor.time).toEqual(t(450));
  });

  it('a crash while a snapshot is still on its way to the disk loses no commit, before or after the journal switch', async () => {
    const dir = tmp();
    const store = new CursorStore(dir);
    store.load();
    const commit = (n: number) => store.prepare(new Map([['a', entry({ time: t(n), count: 1 })]])).commit();
    /** What a process started now would load: the state after a kill -9 at this point. */
    const afterCrash = () => new CursorStore(dir).load().entries.get('a')!.cursor.time.sec;
    const realRename = fs.promises.rename;
    let letGo: () => void = () => undefined;
    let renaming: () => void = () => undefined;
    const slow = vi.spyOn(fs.promises, 'rename').mockImplementation(async (from, to) => {
      renaming();
      await new Promise<void>((resolve) => { letGo = resolve; });
      return realRename(from, to);
    });
    /**
     * The once-a-second snapshot of what `commits` committed starts (and stays held at its rename until letGo):
     * its timer must be one the fake clock runs, so it is set inside.
     */
    const snapshotStartsAfter = async (commits: () => void) => {
      await store.idle();
      const renamed = new Promise<void>((resolve) => { renaming = resolve; });
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      try { commits(); vi.advanceTimersByTime(1000); } finally { vi.useRealTimers(); }
      await renamed;
    };
    try {
      for (let n = 1; n <= 3; n++) commit(n);
      store.writeNow(new Map([['a', entry({ time: t(3), count: 1 })]])); // snapshot 3 on disk
      // The snapshot of 6 on its way; commits move to the other journal.
      await snapshotStartsAfter(() => { for (let n = 4; n <= 6; n++) commit(n); });
      commit(7);
      commit(8);
      expect(afterCrash()).toBe(8);
      letGo();
      await store.idle();
      // Snapshot 6 is on disk: this one may empty the journal that held 4–6.
      await snapshotStartsAfter(() => commit(9));
      commit(10);
      expect(afterCrash()).toBe(10);
      letGo();
      await store.idle();
      expect(afterCrash()).toBe(10);
    } finally {
      vi.useRealTimers();
      slow.mockRestore();
      letGo();
      store.close();
    }
  });

  it('after a snapshot that failed, the journal holding commits since the last good one is kept: a crash then loses none', async () => {
    const dir = tmp();
    const errors: string[] = [];
    const store = new CursorStore(dir, (err) => errors.push((err as NodeJS.ErrnoException).code ?? err.message));
    store.load();
    const state = new Map([['x', entry({ time: t(0), count: 1 })], ['y', entry({ time: t(0), count: 1 })]]);
    const move = (id: string, n: number) => { state.set(id, entry({ time: t(n), count: 1 })); store.prepare(state).commit(); };
    const afterCrash = () => Object.fromEntries([...new CursorStore(dir).load().entries].map(([id, e]) => [id, e.cursor.time.sec]));
    const realRename = fs.promises.rename;
    let failRename = false;
    const flaky = vi.spyOn(fs.promises, 'rename').mockImplementation(async (from, to) => {
      if (failRename) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
      return realRename(from, to);
    });
    /** The once-a-second snapshot after `commits` (its timer set inside, on the fake clock), to its end. */
    const snapshotAfter = async (commits: () => void) => {
      await store.idle();
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      try { commits(); vi.advanceTimersByTime(1000); } finally { vi.useRealTimers(); }
      await store.idle();
    };
    try {
      move('x', 1);
      store.writeNow(state); // a good snapshot: x=1
      failRename = true;
      await snapshotAfter(() => move('x', 2)); // fails: x=2 is only in a journal
      await snapshotAfter(() => move('y', 3)); // fails again
      expect(errors).toEqual(['ENOSPC', 'ENOSPC']);
      move('y', 4);
      expect(afterCrash()).toEqual({ x: 2, y: 4 });
      failRename = false;
      await snapshotAfter(() => move('y', 5)); // good again
      await snapshotAfter(() => move('y', 6));
      move('y', 7);
      expect(afterCrash()).toEqual({ x: 2, y: 7 });
    } finally {
      vi.useRealTimers();
      flaky.mockRestore();
      store.close();
    }
  });

  it('reads the whole-state slot of the version before journals, and goes on from it', () => {
    const dir = tmp();
    const json = Buffer.from('{"version":2,"containers":{"a":{"ts":"5.000000007","n":2,"name":"web"},"b":{"ts":"6.000000000","n":1,"name":"db"}}}');
    // As that version wrote it: one state at offset 0, then the rest of a longer, older state.
    fs.writeFileSync(path.join(dir, 'cursors-b'), Buffer.concat([Buffer.from(`swarmwatch-cursors 2 41 ${json.length} ${crc32(json).toString(16)}\n`), json, Buffer.from('"name":"old rest"}}}')]));
    const store = new CursorStore(dir);
    expect(store.load().entries.get('a')).toEqual({ cursor: { time: t(5, 7), count: 2 }, name: 'web', removedAt: undefined });
    const state = new Map([['a', entry({ time: t(7), count: 1 })], ['b', { cursor: { time: t(6), count: 1 }, name: 'db' }]]);
    store.prepare(state).commit();
    store.close();
    const loaded = new CursorStore(dir).load().entries;
    expect(loaded.get('a')!.cursor.time).toEqual(t(7));
    expect(loaded.get('b')).toEqual({ cursor: { time: t(6), count: 1 }, name: 'db', removedAt: undefined });
  });

  it('at stop, a background snapshot still being written finishes first: cursors.json ends with the final state', async () => {
    const dir = tmp();
    const store = new CursorStore(dir);
    store.load();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      store.prepare(new Map([['a', entry({ time: t(1), count: 1 })]])).commit();
      // The once-a-second snapshot of that state starts, and is in the middle of its write when the stop comes.
      vi.advanceTimersByTime(1000);
    } finally {
      vi.useRealTimers();
    }
    await store.idle();
    store.writeNow(new Map([['a', entry({ time: t(2), count: 1 })]]));
    store.close();
    // Whatever was still on its way has landed by now.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const snapshot = JSON.parse(fs.readFileSync(path.join(dir, 'cursors.json'), 'utf8')) as { containers: Record<string, { ts: string }> };
    expect(snapshot.containers.a!.ts).toBe('2.000000000');
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('at stop, waits for a snapshot held up by a slow disk for longer than the snapshot interval', async () => {
    const dir = tmp();
    const store = new CursorStore(dir);
    store.load();
    // The real rename, held until the test lets it go: a disk slower than the once-a-second snapshot.
    const realRename = fs.promises.rename;
    let letGo!: () => void;
    const gate = new Promise<void>((resolve) => { letGo = resolve; });
    let renaming!: () => void;
    const renameStarted = new Promise<void>((resolve) => { renaming = resolve; });
    const slow = vi.spyOn(fs.promises, 'rename').mockImplementation(async (from, to) => { renaming(); await gate; return realRename(from, to); });
    try {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      store.prepare(new Map([['a', entry({ time: t(1), count: 1 })]])).commit();
      vi.advanceTimersByTime(1000);
      vi.useRealTimers();
      await renameStarted;
      // A second commit and its snapshot time come while the first snapshot still waits for the disk.
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      store.prepare(new Map([['a', entry({ time: t(2), count: 1 })]])).commit();
      vi.advanceTimersByTime(1000);
      vi.useRealTimers();
      let idle = false;
      const stopping = store.idle().then(() => { idle = true; });
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(idle).toBe(false);
      letGo();
      await stopping;
      store.writeNow(new Map([['a', entry({ time: t(3), count: 1 })]]));
      store.close();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const snapshot = JSON.parse(fs.readFileSync(path.join(dir, 'cursors.json'), 'utf8')) as { containers: Record<string, { ts: string }> };
      expect(snapshot.containers.a!.ts).toBe('3.000000000');
    } finally {
      vi.useRealTimers();
      slow.mockRestore();
      letGo();
    }
  });

  it('reports a state it cannot write to onWriteError and never throws into the sender', () => {
    const dir = tmp();
    const errors: string[] = [];
    const store = new CursorStore(dir, (err) => errors.push((err as NodeJS.ErrnoException).code ?? err.message));
    store.load();
    // The state dir vanished under us (a removed volume): nothing can be written there any more.
    fs.rmSync(dir, { recursive: true, force: true });
    expect(() => store.prepare(new Map([['a', entry({ time: t(1), count: 1 })]])).commit()).not.toThrow();
    expect(() => store.writeNow(new Map([['a', entry({ time: t(2), count: 1 })]]))).not.toThrow();
    store.close();
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(errors.every((e) => e === 'ENOENT')).toBe(true);
  });

  it('reads the cursors.json of an older version, and cleans temp files left by a killed process', () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'cursors.json'), '{"version":1,"containers":{"a":{"ts":"5.000000007","n":2,"name":"web"}}}');
    fs.writeFileSync(path.join(dir, 'cursors.json.tmp-999999-1'), '{"version":1,"containers":{}}');
    const store = new CursorStore(dir);
    expect(store.load().entries.get('a')).toEqual({ cursor: { time: t(5, 7), count: 2 }, name: 'web', removedAt: undefined });
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    // A commit after the upgrade wins over the old file.
    store.prepare(new Map([['a', entry({ time: t(6), count: 1 })]])).commit();
    store.close();
    expect(new CursorStore(dir).load().entries.get('a')!.cursor.time).toEqual(t(6));
  });
});
