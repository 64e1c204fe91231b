/**
 * LogThrottle: a warning one cause repeats for every container or batch (a full disk, a down destination) is logged
 * once a minute, not thousands of times; a reset (a stop) lets the next one through at once.
 */
import { expect, it } from 'vitest';
import { LogThrottle } from '../../core/log.js';

it('says yes once per period, the first time at once, and again at once after a reset', () => {
  const t = new LogThrottle(60_000);
  const start = 1_000_000;
  expect(t.take(start)).toBe(true);
  expect(t.take(start + 1)).toBe(false);
  expect(t.take(start + 59_999)).toBe(false);
  expect(t.take(start + 60_000)).toBe(true);
  expect(t.take(start + 60_001)).toBe(false);
  t.reset();
  expect(t.take(start + 60_002)).toBe(true);
});
