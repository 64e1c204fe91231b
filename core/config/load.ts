import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, isMap, isScalar, isSeq, type Node as YamlNode } from 'yaml';
import { ErrorCodes, SwarmwatchError } from '../errors.js';
import { registerSecret } from '../log.js';
import { envNameOf, flagNameOf, parseDuration, type OptionSpec, type OptionValue } from './spec.js';

/** Where a value came from, named the way the operator wrote it, so errors point at the right place. */
type Source = { kind: 'default' } | { kind: 'env'; name: string } | { kind: 'flag'; name: string } | { kind: 'file'; file: string; line: number; key: string };

function describeSource(s: Source): string {
  switch (s.kind) {
    case 'default': return 'default';
    case 'env': return `environment variable ${s.name}`;
    case 'flag': return `flag ${s.name}`;
    case 'file': return `${s.file}:${s.line} (${s.key})`;
  }
}

export interface LoadInput {
  specs: readonly OptionSpec[];
  argv?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** YAML file; when absent, `--config` or SWARMWATCH_CONFIG name one. */
  file?: string;
}

/** Validated configuration; values are already coerced to their declared type. */
export class Config {
  constructor(private readonly values: ReadonlyMap<string, OptionValue>, readonly specs: readonly OptionSpec[], readonly positional: readonly string[]) {}
  private need(key: string): OptionValue {
    if (!this.values.has(key)) throw new SwarmwatchError(ErrorCodes.INTERNAL, `config key "${key}" is not declared in any OptionSpec`);
    return this.values.get(key);
  }
  str(key: string): string { return String(this.need(key) ?? ''); }
  optStr(key: string): string | undefined { const v = this.need(key); return v === undefined || v === '' ? undefined : String(v); }
  int(key: string): number { return Number(this.need(key)); }
  bool(key: string): boolean { return this.need(key) === true; }
  list(key: string): string[] { const v = this.need(key); return Array.isArray(v) ? v : []; }
  /** Milliseconds. */
  duration(key: string): number { return Number(this.need(key)); }
  has(key: string): boolean { return this.values.get(key) !== undefined && this.values.get(key) !== ''; }
}

function invalid(spec: OptionSpec, source: Source, detail: string): SwarmwatchError {
  const accepted = spec.type === 'enum' || (spec.type === 'list' && spec.values)
    ? `accepted values: ${spec.values!.join(', ')}`
    : spec.type === 'duration' ? 'accepted: a duration such as 500ms, 5s, 1m, 2h'
    : spec.type === 'bool' ? 'accepted values: true, false'
    : spec.type === 'int' ? `accepted: an integer${spec.min !== undefined ? ` ≥ ${spec.min}` : ''}${spec.max !== undefined ? ` and ≤ ${spec.max}` : ''}`
    : `expected a ${spec.type}`;
  return new SwarmwatchError(ErrorCodes.CONFIG_INVALID, `invalid value for option ${spec.key} from ${describeSource(source)}: ${detail}; ${accepted}`, {
    culprit: source.kind === 'env' || source.kind === 'flag' ? source.name : spec.key,
  });
}

function coerce(spec: OptionSpec, raw: unknown, source: Source): OptionValue {
  const text = Array.isArray(raw) ? raw.join(',') : String(raw);
  switch (spec.type) {
    case 'string': case 'path': case 'url':
      if (typeof raw === 'object' && raw !== null) throw invalid(spec, source, 'got a structure, expected text');
      return text;
    case 'int': {
      if (!/^-?\d+$/.test(text.trim())) throw invalid(spec, source, `"${text}" is not an integer`);
      const n = Number(text);
      if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) throw invalid(spec, source, `${n} is out of range`);
      return n;
    }
    case 'bool': {
      const t = text.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(t)) return true;
      if (['false', '0', 'no', 'off'].includes(t)) return false;
      throw invalid(spec, source, `"${text}" is not a boolean`);
    }
    case 'duration': {
      const ms = typeof raw === 'number' ? raw * 1000 : parseDuration(text);
      if (ms === undefined || Number.isNaN(ms)) throw invalid(spec, source, `"${text}" is not a duration`);
      if (spec.min !== undefined && ms < spec.min) throw invalid(spec, source, `${text} is shorter than ${spec.min} ms`);
      return ms;
    }
    case 'enum':
      if (!spec.values!.includes(text.trim())) throw invalid(spec, source, `"${text}" is not one of them`);
      return text.trim();
    case 'list': {
      const items = Array.isArray(raw) ? raw.map(String) : text.split(',');
      const list = items.map((s) => s.trim()).filter((s) => s.length > 0);
      if (spec.values) for (const item of list) if (!spec.values.includes(item)) throw invalid(spec, source, `"${item}" is not accepted`);
      return list;
    }
  }
}

interface FileValue { raw: unknown; line: number }

function readYamlFile(file: string, specs: readonly OptionSpec[]): Map<string, FileValue> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SwarmwatchError(ErrorCodes.CONFIG_FILE, `cannot read config file ${file}: ${(err as Error).message}`, {
      culprit: file, fix: 'check the path given by --config or SWARMWATCH_CONFIG and its permissions', cause: err,
    });
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = lc.linePos(e.pos[0]).line;
    throw new SwarmwatchError(ErrorCodes.CONFIG_FILE, `${file}:${line}: malformed YAML: ${e.message.split('\n')[0]}`, { culprit: `${file}:${line}` });
  }
  const known = new Set(specs.map((s) => s.key));
  const prefixes = new Set<string>();
  for (const k of known) { const parts = k.split('.'); for (let i = 1; i < parts.length; i++) prefixes.add(parts.slice(0, i).join('.')); }
  const out = new Map<string, FileValue>();
  const lineOf = (n: YamlNode | null | undefined) => (n && n.range ? lc.linePos(n.range[0]).line : 0);
  const walk = (node: unknown, path: string) => {
    if (!isMap(node)) {
      throw new SwarmwatchError(ErrorCodes.CONFIG_FILE, `${file}:${lineOf(node as YamlNode)}: expected a mapping at ${path || 'top level'}`, { culprit: file });
    }
    for (const pair of node.items) {
      const keyNode = pair.key as YamlNode;
      const name = isScalar(keyNode) ? String(keyNode.value) : '?';
      const full = path ? `${path}.${name}` : name;
      const line = lineOf(keyNode);
      if (known.has(full)) {
        const v = pair.value as YamlNode | null;
        const raw = isSeq(v) ? v.items.map((i) => (isScalar(i) ? i.value : String(i))) : isScalar(v) ? v.value : v === null ? '' : v?.toJSON();
        out.set(full, { raw, line });
      } else if (prefixes.has(full)) {
        walk(pair.value, full);
      } else {
        throw new SwarmwatchError(ErrorCodes.CONFIG_UNKNOWN_OPTION, `${file}:${line}: unknown option "${full}"`, {
          culprit: `${file}:${line}`, fix: 'see the options table in README.md for the accepted keys',
        });
      }
    }
  };
  if (doc.contents !== null) walk(doc.contents, '');
  return out;
}

/** Parses `--key value`, `--key=value` and bare `--flag` (booleans); anything else is positional. */
function parseArgv(argv: readonly string[], specs: readonly OptionSpec[]): { flags: Map<string, { raw: string; name: string }>; positional: string[]; configFile?: string } {
  const byFlag = new Map(specs.map((s) => [flagNameOf(s.key), s]));
  const flags = new Map<string, { raw: string; name: string }>();
  const positional: string[] = [];
  let configFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) { positional.push(arg); continue; }
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    let value = eq >= 0 ? arg.slice(eq + 1) : undefined;
    if (name === '--config') {
      configFile = value ?? argv[++i];
      continue;
    }
    const spec = byFlag.get(name);
    if (!spec) {
      throw new SwarmwatchError(ErrorCodes.CONFIG_UNKNOWN_OPTION, `unknown option ${name}`, {
        culprit: name, fix: 'run with --help to list the accepted options',
      });
    }
    if (value === undefined) {
      const next = argv[i + 1];
      if (spec.type === 'bool' && (next === undefined || next.startsWith('--') || !/^(true|false|1|0|yes|no|on|off)$/i.test(next))) value = 'true';
      else if (next === undefined) throw invalid(spec, { kind: 'flag', name }, 'no value given');
      else { value = next; i++; }
    }
    flags.set(spec.key, { raw: value, name });
  }
  return { flags, positional, configFile };
}

export function loadConfig(input: LoadInput): Config {
  const env = input.env ?? process.env;
  const { flags, positional, configFile } = parseArgv(input.argv ?? [], input.specs);
  const file = configFile ?? input.file ?? (env.SWARMWATCH_CONFIG || undefined);
  const fromFile = file ? readYamlFile(file, input.specs) : new Map<string, FileValue>();
  const values = new Map<string, OptionValue>();
  for (const spec of input.specs) {
    const envName = envNameOf(spec.key);
    let value: OptionValue = spec.default === undefined ? undefined : coerce(spec, spec.default, { kind: 'default' });
    const f = fromFile.get(spec.key);
    if (f !== undefined) value = coerce(spec, f.raw, { kind: 'file', file: file!, line: f.line, key: spec.key });
    if (spec.secret && env[`${envName}_FILE`]) {
      const secretFile = env[`${envName}_FILE`]!;
      try {
        value = readFileSync(secretFile, 'utf8').replace(/\r?\n$/, '');
      } catch (err) {
        throw new SwarmwatchError(ErrorCodes.CONFIG_FILE, `cannot read ${envName}_FILE=${secretFile}: ${(err as Error).message}`, {
          culprit: `${envName}_FILE`, fix: 'mount the secret (e.g. a Docker secret under /run/secrets) or fix the path', cause: err,
        });
      }
    }
    if (env[envName] !== undefined && env[envName] !== '') value = coerce(spec, env[envName], { kind: 'env', name: envName });
    const flag = flags.get(spec.key);
    if (flag) value = coerce(spec, flag.raw, { kind: 'flag', name: flag.name });
    if (spec.secret && typeof value === 'string') registerSecret(value);
    values.set(spec.key, value);
  }
  return new Config(values, input.specs, positional);
}

/** The `--help` text for a set of options. */
export function helpFor(specs: readonly OptionSpec[]): string {
  return specs
    .map((s) => {
      const def = s.default === undefined || s.default === '' ? '' : ` (default: ${Array.isArray(s.default) ? s.default.join(',') : s.default})`;
      const vals = s.values ? ` [${s.values.join('|')}]` : '';
      return `  ${flagNameOf(s.key)} <${s.type}>${vals}\n      ${s.description}${def}\n      env: ${envNameOf(s.key)}${s.secret ? ` or ${envNameOf(s.key)}_FILE` : ''}`;
    })
    .join('\n');
}
