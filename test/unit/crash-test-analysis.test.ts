/**
 * The crash test's reading of what the receiver got (test/integration/shipper-support.ts): it decides whether a kill
 * -9 lost or repeated lines, so it must count exactly.
 */
import { describe, expect, it } from 'vitest';
import { checkSequences, repeatsByConnection } from '../integration/shipper-support.js';

/** Received lines as the receiver records them: "<tag> <n>" from a container, on a numbered connection. */
function lines(container: string, conn: number, from: number, to: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (let n = from; n < to; n++) out.push({ _container_name: container, short_message: `x ${n}`, __conn: conn });
  return out;
}

describe('repeatsByConnection', () => {
  it('charges each repeated line to the connection that carried it first, wherever the copy arrives', () => {
    // Connection 1 sent a0–a9 and b0–b4 and was killed; 2 resent a8, a9 (its cursor) and went on; 3 resent b3, b4.
    // The slow receiver read part of connection 1 only after connection 2's lines.
    const msgs = [...lines('a', 1, 0, 6), ...lines('a', 2, 8, 12), ...lines('a', 1, 6, 10), ...lines('b', 1, 0, 5), ...lines('b', 3, 3, 6)];
    expect(repeatsByConnection(msgs)).toEqual({ byConn: [{ conn: 1, repeated: 4 }], sameConnection: 0 });
    expect(checkSequences(msgs, { a: 12, b: 6 })).toMatchObject({ lost: 0, duplicated: 4 });
  });

  it('counts a line one connection carried twice, and charges a line repeated by two kills to its first connection', () => {
    const msgs = [...lines('a', 1, 0, 5), ...lines('a', 1, 4, 5), ...lines('a', 2, 4, 8), ...lines('a', 3, 7, 9)];
    expect(repeatsByConnection(msgs)).toEqual({ byConn: [{ conn: 1, repeated: 1 }, { conn: 2, repeated: 1 }], sameConnection: 1 });
  });

  it('finds nothing when every line came once', () => {
    expect(repeatsByConnection([...lines('a', 1, 0, 5), ...lines('a', 2, 5, 9)])).toEqual({ byConn: [], sameConnection: 0 });
  });
});
