/**
 * Engine timestamps with full nanosecond precision. JavaScript numbers cannot hold nanoseconds since the epoch,
 * and the logs API's `since` is inclusive, so positions compare as (seconds, nanoseconds) pairs, never as floats.
 */
export interface EngineTime {
  sec: number;
  nsec: number;
}

const rfc3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

let cachedPrefix = '';
let cachedSec = 0;

/** Parses RFC3339Nano as the engine writes it (trailing zeros of the fraction are trimmed, sometimes no fraction). */
export function parseEngineTime(text: string): EngineTime | undefined {
  // Hot path: consecutive lines share the date and second; only the fraction differs.
  if (text.length >= 22 && text.length <= 30 && text.charCodeAt(19) === 46 /* . */ && text.charCodeAt(text.length - 1) === 90 /* Z */ && cachedPrefix.length === 19 && text.startsWith(cachedPrefix)) {
    // The fraction's digits read in place (1 to 9 of them; trailing zeros trimmed): no substring, no regex.
    let nsec = 0;
    let scale = 100_000_000;
    let i = 20;
    for (; i < text.length - 1; i++) {
      const d = text.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      nsec += d * scale;
      scale /= 10;
    }
    if (i === text.length - 1) return { sec: cachedSec, nsec };
  }
  const m = rfc3339.exec(text);
  if (!m) return undefined;
  let sec = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) / 1000;
  if (m[8] !== 'Z') {
    const sign = m[8]![0] === '-' ? -1 : 1;
    sec -= sign * (Number(m[8]!.slice(1, 3)) * 3600 + Number(m[8]!.slice(4, 6)) * 60);
  }
  const nsec = m[7] ? Number(m[7].padEnd(9, '0')) : 0;
  if (m[8] === 'Z') { cachedPrefix = text.slice(0, 19); cachedSec = sec; }
  return { sec, nsec };
}

export function compareTime(a: EngineTime, b: EngineTime): number {
  return a.sec !== b.sec ? a.sec - b.sec : a.nsec - b.nsec;
}

/** `seconds.nanoseconds`: the form the logs API accepts for `since`, and GELF's timestamp with every digit kept. */
export function formatUnixNano(t: EngineTime): string {
  return `${t.sec}.${String(t.nsec).padStart(9, '0')}`;
}

export function parseUnixNano(text: string): EngineTime | undefined {
  const m = /^(\d+)(?:\.(\d{1,9}))?$/.exec(text);
  if (!m) return undefined;
  return { sec: Number(m[1]), nsec: m[2] ? Number(m[2].padEnd(9, '0')) : 0 };
}

export function toSeconds(t: EngineTime): number {
  return t.sec + t.nsec / 1e9;
}

export function nowEngineTime(): EngineTime {
  const ms = Date.now();
  return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1e6 };
}
