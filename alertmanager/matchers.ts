import type { LabelSet } from './model.js';

/** Alertmanager matchers: `name="value"`, `name!="v"`, `name=~"re"`, `name!~"re"` (regexes are fully anchored). */
export type MatchType = '=' | '!=' | '=~' | '!~';

export interface Matcher {
  name: string;
  type: MatchType;
  value: string;
}

/** The v2 API's JSON shape (silences). */
export interface ApiMatcher {
  name: string;
  value: string;
  isRegex: boolean;
  isEqual?: boolean;
}

const compiled = new Map<string, RegExp>();
function regexOf(value: string): RegExp {
  let re = compiled.get(value);
  if (!re) { re = new RegExp(`^(?:${value})$`); compiled.set(value, re); }
  return re;
}

export function matches(m: Matcher, labels: LabelSet): boolean {
  const v = labels[m.name] ?? '';
  switch (m.type) {
    case '=': return v === m.value;
    case '!=': return v !== m.value;
    case '=~': return regexOf(m.value).test(v);
    case '!~': return !regexOf(m.value).test(v);
  }
}

export function matchesAll(ms: readonly Matcher[], labels: LabelSet): boolean {
  return ms.every((m) => matches(m, labels));
}

/** Parses one matcher; returns an error text instead of throwing so callers can name file:line. */
export function parseMatcher(text: string): Matcher | string {
  const m = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$/.exec(text);
  if (!m) return `"${text}" is not a matcher (expected name="value", name!="value", name=~"regex" or name!~"regex")`;
  let value = m[3]!;
  if (value.startsWith('"')) {
    try { value = JSON.parse(value) as string; } catch { return `"${text}": unterminated or invalid quoted value`; }
  }
  const type = m[2] as MatchType;
  if (type === '=~' || type === '!~') {
    try { regexOf(value); } catch (err) { return `"${text}": invalid regular expression: ${(err as Error).message}`; }
  }
  return { name: m[1]!, type, value };
}

export function matcherString(m: Matcher): string {
  return `${m.name}${m.type}${JSON.stringify(m.value)}`;
}

export function fromApiMatcher(a: ApiMatcher): Matcher {
  const equal = a.isEqual !== false;
  return { name: a.name, value: a.value, type: a.isRegex ? (equal ? '=~' : '!~') : (equal ? '=' : '!=') };
}

export function toApiMatcher(m: Matcher): ApiMatcher {
  return { name: m.name, value: m.value, isRegex: m.type === '=~' || m.type === '!~', isEqual: m.type === '=' || m.type === '=~' };
}
