/**
 * Engine timestamps with full nanosecond precision. JavaScript numbers cannot hold nanoseconds since the epoch,
 * and the logs API's `since` is inclusive, so positions compare as (seconds, nanoseconds) pairs, never as floats.
 */
export interface EngineTime {
  sec: number;
  nsec: number;
}

const rfc3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/**
 * An engine time in RFC3339Nano as the engine writes it (trailing zeros of the fraction are trimmed, sometimes no
 * fraction; `Z` or the daemon's zone offset), e.g. the `time` JSON.parse found in a json-file line.
 */
export function parseEngineTime(text: string): EngineTime | undefined {
  const m = rfc3339.exec(text);
  if (!m) return undefined;
  let sec = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) / 1000;
  if (m[8] !== 'Z') {
    const sign = m[8]![0] === '-' ? -1 : 1;
    sec -= sign * (Number(m[8]!.slice(1, 3)) * 3600 + Number(m[8]!.slice(4, 6)) * 60);
  }
  const nsec = m[7] ? Number(m[7].padEnd(9, '0')) : 0;
  return { sec, nsec };
}

/** An engine time in RFC3339Nano, UTC, as the engine writes it in a json-file log (trailing zeros of the fraction trimmed). */
export function engineTimeText(t: EngineTime): string {
  const fraction = t.nsec === 0 ? '' : `.${String(t.nsec).padStart(9, '0').replace(/0+$/, '')}`;
  return `${new Date(t.sec * 1000).toISOString().slice(0, 19)}${fraction}Z`;
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

/** The last second parsed: its 19 bytes `YYYY-MM-DDTHH:MM:SS` and its value. */
const cachedSecondBytes = new Uint8Array(19);
let cachedSecondValid = false;
let cachedSecondValue = 0;

/**
 * Parses the engine's RFC3339Nano time at `buf[start, end)`, read in place (the `time` of a json-file line, the
 * prefix of a logs-API entry). Consecutive lines share the date and second: they compare 19 bytes and read the
 * fraction's digits, with no string made; anything else goes through the regular expression.
 */
export function parseEngineTimeAt(buf: Buffer, start: number, end: number): EngineTime | undefined {
  const len = end - start;
  if (cachedSecondValid && len >= 22 && len <= 30 && buf[start + 19] === 46 /* . */ && buf[end - 1] === 90 /* Z */) {
    let same = true;
    // Compared from the seconds backwards: that is where consecutive seconds differ.
    for (let i = 18; i >= 0; i--) if (buf[start + i] !== cachedSecondBytes[i]) { same = false; break; }
    if (same) {
      let nsec = 0;
      let scale = 100_000_000;
      let i = start + 20;
      for (; i < end - 1; i++) {
        const d = buf[i]! - 48;
        if (d < 0 || d > 9) break;
        nsec += d * scale;
        scale /= 10;
      }
      if (i === end - 1) return { sec: cachedSecondValue, nsec };
    }
  }
  const t = parseEngineTime(buf.toString('latin1', start, end));
  if (t && buf[end - 1] === 90 /* Z */ && buf[start + 19] === 46 /* . */) {
    cachedSecondBytes.set(buf.subarray(start, start + 19));
    cachedSecondValue = t.sec;
    cachedSecondValid = true;
  }
  return t;
}

/**
 * Writes formatUnixNano(t) as ASCII at `off`; returns the offset after it. Engine times are after 1970: a
 * negative second (never seen) takes the text path.
 */
export function writeUnixNano(buf: Buffer, off: number, t: EngineTime): number {
  let s = t.sec;
  if (s < 0 || !Number.isInteger(s)) return off + buf.write(formatUnixNano(t), off, 'latin1');
  let digits = 1;
  for (let x = s; x >= 10; x = Math.floor(x / 10)) digits++;
  for (let i = off + digits - 1; i >= off; i--) {
    buf[i] = 48 + (s % 10);
    s = Math.floor(s / 10);
  }
  off += digits;
  buf[off++] = 46; /* . */
  let n = t.nsec;
  for (let i = off + 8; i >= off; i--) {
    buf[i] = 48 + (n % 10);
    n = Math.floor(n / 10);
  }
  return off + 9;
}
