/**
 * A tiny leveled logger writing one line per event to stderr. Kept dependency-free because log lines
 * are rare (state changes, errors) and must never carry secrets: callers pass values through redact().
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

let threshold: number = order.info;
let format: 'text' | 'json' = 'text';
const secretValues = new Set<string>();

export function configureLogging(level: LogLevel, fmt: 'text' | 'json' = 'text'): void {
  threshold = order[level];
  format = fmt;
}

/** Registers a secret so that it is masked wherever it would appear in a log line. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 4) secretValues.add(value);
}

export function redact(text: string): string {
  let out = text;
  for (const s of secretValues) if (out.includes(s)) out = out.split(s).join('***');
  return out;
}

function write(level: LogLevel, component: string, msg: string, fields?: Record<string, unknown>): void {
  if (order[level] < threshold) return;
  let line: string;
  if (format === 'json') {
    line = JSON.stringify({ time: new Date().toISOString(), level, component, msg, ...fields });
  } else {
    const extra = fields
      ? ' ' + Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v ?? null)}`).join(' ')
      : '';
    line = `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} [${component}] ${msg}${extra}`;
  }
  process.stderr.write(redact(line) + '\n');
}

export function createLogger(component: string): Logger {
  return {
    debug: (m, f) => write('debug', component, m, f),
    info: (m, f) => write('info', component, m, f),
    warn: (m, f) => write('warn', component, m, f),
    error: (m, f) => write('error', component, m, f),
    child: (sub) => createLogger(`${component}/${sub}`),
  };
}

/**
 * Says yes at most once per `ms`: for a warning that the same cause would repeat for every container or every batch
 * (a full disk, a down destination), so that the log keeps one line a minute instead of thousands.
 */
export class LogThrottle {
  private last = -Infinity;

  constructor(private readonly ms = 60_000) {}

  /** Whether to log now (and if so, the next yes comes `ms` later at the earliest). */
  take(now = Date.now()): boolean {
    if (now - this.last < this.ms) return false;
    this.last = now;
    return true;
  }

  /** The next take() says yes. */
  reset(): void {
    this.last = -Infinity;
  }
}
