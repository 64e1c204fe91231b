import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode, type Pair } from 'yaml';
import { ErrorCodes, SwarmwatchError } from '../../core/errors.js';
import { parseDuration } from '../../core/config/spec.js';

/**
 * A position in a YAML document that knows its file, line and dotted key, so that every validation error
 * reads `rules.yml:12: rules.SwarmServiceDegraded.for: "abc" is not a duration` (the CLI exits 2 on it).
 */
export class YamlCursor {
  constructor(readonly file: string, private readonly lc: LineCounter, readonly node: unknown, readonly path: string, private readonly keyNode?: unknown) {}

  static load(file: string): YamlCursor {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new SwarmwatchError(ErrorCodes.CONFIG_INVALID, `${file}:0: cannot read: ${(err as Error).message}`, { culprit: file, cause: err });
    }
    return YamlCursor.parse(file, text);
  }

  static parse(file: string, text: string): YamlCursor {
    const lc = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const line = lc.linePos(e.pos[0]).line;
      throw new SwarmwatchError(ErrorCodes.CONFIG_INVALID, `${file}:${line}: malformed YAML: ${e.message.split('\n')[0]}`, { culprit: `${file}:${line}` });
    }
    return new YamlCursor(file, lc, doc.contents, '');
  }

  get line(): number {
    // The key's line reads best ("rules.X.for" points at "for:"); the value's when there is no key (list items).
    const k = this.keyNode as YamlNode | undefined;
    const n = this.node as YamlNode | null | undefined;
    const at = k?.range ? k.range[0] : n?.range ? n.range[0] : 0;
    return this.lc.linePos(at).line;
  }

  get missing(): boolean {
    return this.node === undefined || this.node === null || (isScalar(this.node) && this.node.value === null);
  }

  error(message: string): SwarmwatchError {
    const where = `${this.file}:${this.line}`;
    return new SwarmwatchError(ErrorCodes.CONFIG_INVALID, `${where}: ${this.path || '(top level)'}: ${message}`, { culprit: where });
  }

  private child(name: string, pair: Pair): YamlCursor {
    return new YamlCursor(this.file, this.lc, pair.value, this.path ? `${this.path}.${name}` : name, pair.key);
  }

  /** Entries of a mapping; with `allowed`, any other key is an error at that key's line. */
  entries(allowed?: readonly string[]): [string, YamlCursor][] {
    if (this.missing) return [];
    if (!isMap(this.node)) throw this.error('expected a mapping');
    const out: [string, YamlCursor][] = [];
    for (const pair of this.node.items) {
      const name = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const c = this.child(name, pair);
      if (allowed && !allowed.includes(name)) {
        throw new YamlCursor(this.file, this.lc, pair.key, c.path).error(`unknown key "${name}"; accepted keys: ${allowed.join(', ')}`);
      }
      out.push([name, c]);
    }
    return out;
  }

  /** Named fields of a mapping, validated against `allowed`. Missing fields are cursors whose `missing` is true. */
  fields(allowed: readonly string[]): Record<string, YamlCursor> {
    const out: Record<string, YamlCursor> = {};
    for (const [k, c] of this.entries(allowed)) out[k] = c;
    for (const k of allowed) out[k] ??= new YamlCursor(this.file, this.lc, undefined, this.path ? `${this.path}.${k}` : k, this.node);
    return out;
  }

  items(): YamlCursor[] {
    if (this.missing) return [];
    if (!isSeq(this.node)) throw this.error('expected a list');
    return this.node.items.map((n, i) => new YamlCursor(this.file, this.lc, n, `${this.path}[${i}]`));
  }

  private scalar(): unknown {
    if (!isScalar(this.node)) throw this.error('expected a single value');
    return this.node.value;
  }

  string(fallback?: string): string {
    if (this.missing) {
      if (fallback !== undefined) return fallback;
      throw this.error('is required');
    }
    const v = this.scalar();
    if (typeof v === 'object') throw this.error('expected text');
    return String(v);
  }

  bool(fallback: boolean): boolean {
    if (this.missing) return fallback;
    const v = this.scalar();
    if (typeof v !== 'boolean') throw this.error(`"${String(v)}" is not a boolean (true or false)`);
    return v;
  }

  number(fallback: number, min?: number, max?: number, integer = false): number {
    if (this.missing) return fallback;
    const v = this.scalar();
    if (typeof v !== 'number' || Number.isNaN(v) || (integer && !Number.isInteger(v))) throw this.error(`"${String(v)}" is not ${integer ? 'an integer' : 'a number'}`);
    if ((min !== undefined && v < min) || (max !== undefined && v > max)) throw this.error(`${v} is out of range${min !== undefined ? ` (≥ ${min}` : ' ('}${max !== undefined ? `, ≤ ${max})` : ')'}`);
    return v;
  }

  /** Milliseconds. */
  duration(fallbackMs: number, minMs = 0): number {
    if (this.missing) return fallbackMs;
    const v = this.scalar();
    const ms = typeof v === 'number' ? v * 1000 : parseDuration(String(v));
    if (ms === undefined || Number.isNaN(ms)) throw this.error(`"${String(v)}" is not a duration (e.g. 500ms, 30s, 5m, 4h)`);
    if (ms < minMs) throw this.error(`${String(v)} is shorter than ${minMs} ms`);
    return ms;
  }

  stringList(fallback: string[] = []): string[] {
    if (this.missing) return fallback;
    if (isScalar(this.node)) return [this.string()];
    return this.items().map((c) => c.string());
  }

  stringMap(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, c] of this.entries()) out[k] = c.string();
    return out;
  }
}
