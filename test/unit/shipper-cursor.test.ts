import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
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

  it('a slot torn by a crash falls back to the previous commit; a state prepared but never committed never becomes current', () => {
    const dir = tmp();
    const store = new CursorStore(dir);
    store.load();
    for (let n = 1; n <= 3; n++) (store.prepare(new Map([['a', entry({ time: t(n), count: 1 })]]))).commit();
    store.prepare(new Map([['a', entry({ time: t(99), count: 1 })]])); // the send failed: never committed
    store.close();
    expect(new CursorStore(dir).load().entries.get('a')!.cursor.time).toEqual(t(3));
    // Commit 3 went to one slot: cut it short, as a kill -9 in the middle of its write would.
    const slot = ['cursors-a', 'cursors-b'].map((f) => path.join(dir, f)).find((f) => fs.readFileSync(f, 'utf8').startsWith('swarmwatch-cursors 2 3 '))!;
    fs.truncateSync(slot, fs.statSync(slot).size - 5);
    expect(new CursorStore(dir).load().entries.get('a')!.cursor.time).toEqual(t(2));
    // Both slots bad and no snapshot: an error naming the file, not a silent restart from scratch.
    const other = ['cursors-a', 'cursors-b'].map((f) => path.join(dir, f)).find((f) => f !== slot)!;
    fs.writeFileSync(other, 'swarmwatch-cursors 2 2 10 0\n{broken');
    expect(() => new CursorStore(dir).load()).toThrow(/cursors-[ab]: checksum or header does not match/);
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
