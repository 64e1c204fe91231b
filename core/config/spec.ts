/**
 * One typed description of every option. Each component declares its own OptionSpec[] next to its code;
 * core/config/registry.ts gathers them so that env vars, CLI flags, the YAML file and the README table all
 * come from the same list.
 */
export type OptionType = 'string' | 'int' | 'bool' | 'duration' | 'enum' | 'list' | 'path' | 'url';
export type OptionValue = string | number | boolean | string[] | undefined;

export interface OptionSpec {
  /** Dotted key: YAML path (`exporter.listen`), CLI flag (`--exporter.listen`), env (`SWARMWATCH_EXPORTER_LISTEN`). */
  key: string;
  type: OptionType;
  default?: Exclude<OptionValue, undefined>;
  /** Accepted values for `enum`, and for each element of `list` when given. */
  values?: readonly string[];
  min?: number;
  max?: number;
  /** Secret options also accept `<ENV>_FILE` and are masked in every log line. */
  secret?: boolean;
  description: string;
}

export const ENV_PREFIX = 'SWARMWATCH_';

export function envNameOf(key: string): string {
  return ENV_PREFIX + key.toUpperCase().replace(/[.-]/g, '_');
}

export function flagNameOf(key: string): string {
  return `--${key}`;
}

/** Durations: `250ms`, `5s`, `1m`, `2h`, `1d`, `1h30m`, or a bare number of seconds. Returns milliseconds. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(t)) !== null) {
    const n = Number(m[1]);
    const unit = m[2];
    total += unit === 'ms' ? n : unit === 's' ? n * 1e3 : unit === 'm' ? n * 6e4 : unit === 'h' ? n * 3.6e6 : n * 8.64e7;
    matched += m[0].length;
  }
  return matched === t.length && matched > 0 ? Math.round(total) : undefined;
}
