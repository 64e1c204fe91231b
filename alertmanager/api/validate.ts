import type { PostableAlert } from '../alert-store.js';
import { fromApiMatcher, type ApiMatcher, type Matcher } from '../matchers.js';

/** Request-body validation with reasons a client can act on; returns the value or an error text. */
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const MAX_ALERTS_PER_POST = 10_000;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringMap(v: unknown, what: string, names: boolean): Record<string, string> | string {
  if (v === undefined) return {};
  if (!isObject(v)) return `${what} must be an object of strings`;
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') return `${what}.${k} must be a string`;
    if (names && !LABEL_NAME.test(k)) return `${what}: "${k}" is not a valid label name`;
  }
  return v as Record<string, string>;
}

function time(v: unknown, what: string): string | undefined | { error: string } {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) return { error: `${what} must be an RFC 3339 time` };
  // Prometheus sends the zero time for "unset" in some versions.
  return v.startsWith('0001-01-01') ? undefined : v;
}

export function parsePostableAlerts(body: unknown): PostableAlert[] | string {
  if (!Array.isArray(body)) return 'expected a JSON array of alerts (Alertmanager API v2 postableAlerts)';
  if (body.length > MAX_ALERTS_PER_POST) return `too many alerts in one request (${body.length} > ${MAX_ALERTS_PER_POST})`;
  const out: PostableAlert[] = [];
  for (const [i, raw] of body.entries()) {
    if (!isObject(raw)) return `alerts[${i}] must be an object`;
    const labels = stringMap(raw.labels, `alerts[${i}].labels`, true);
    if (typeof labels === 'string') return labels;
    if (Object.keys(labels).length === 0) return `alerts[${i}].labels must not be empty`;
    const annotations = stringMap(raw.annotations, `alerts[${i}].annotations`, false);
    if (typeof annotations === 'string') return annotations;
    const startsAt = time(raw.startsAt, `alerts[${i}].startsAt`);
    const endsAt = time(raw.endsAt, `alerts[${i}].endsAt`);
    if (typeof startsAt === 'object') return startsAt.error;
    if (typeof endsAt === 'object') return endsAt.error;
    if (raw.generatorURL !== undefined && typeof raw.generatorURL !== 'string') return `alerts[${i}].generatorURL must be a string`;
    out.push({ labels, annotations, startsAt, endsAt, generatorURL: raw.generatorURL as string | undefined });
  }
  return out;
}

export interface PostableSilence {
  id?: string;
  matchers: Matcher[];
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
}

export function parsePostableSilence(body: unknown): PostableSilence | string {
  if (!isObject(body)) return 'expected a JSON object (Alertmanager API v2 postableSilence)';
  if (!Array.isArray(body.matchers) || body.matchers.length === 0) return 'matchers must be a non-empty array';
  const matchers: Matcher[] = [];
  for (const [i, m] of (body.matchers as unknown[]).entries()) {
    if (!isObject(m) || typeof m.name !== 'string' || typeof m.value !== 'string' || typeof m.isRegex !== 'boolean') return `matchers[${i}] needs name, value (strings) and isRegex (boolean)`;
    if (m.isEqual !== undefined && typeof m.isEqual !== 'boolean') return `matchers[${i}].isEqual must be a boolean`;
    const parsed = fromApiMatcher(m as unknown as ApiMatcher);
    if (parsed.type === '=~' || parsed.type === '!~') {
      try { new RegExp(parsed.value); } catch (err) { return `matchers[${i}].value: invalid regular expression: ${(err as Error).message}`; }
    }
    matchers.push(parsed);
  }
  const startsAt = time(body.startsAt, 'startsAt');
  const endsAt = time(body.endsAt, 'endsAt');
  if (typeof startsAt !== 'string') return typeof startsAt === 'object' ? startsAt.error : 'startsAt is required';
  if (typeof endsAt !== 'string') return typeof endsAt === 'object' ? endsAt.error : 'endsAt is required';
  if (Date.parse(endsAt) <= Date.parse(startsAt)) return 'endsAt must be after startsAt';
  if (typeof body.createdBy !== 'string' || body.createdBy === '') return 'createdBy is required';
  if (typeof body.comment !== 'string' || body.comment === '') return 'comment is required';
  if (body.id !== undefined && typeof body.id !== 'string') return 'id must be a string';
  return { id: body.id as string | undefined, matchers, startsAt, endsAt, createdBy: body.createdBy, comment: body.comment };
}
