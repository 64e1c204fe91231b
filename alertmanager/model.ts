/**
 * The alert as every part of the engine sees it: Alertmanager's data model (labels identify an alert,
 * annotations describe it, startsAt/endsAt bound it) so that payloads and the v2 API stay compatible.
 */
export type LabelSet = Record<string, string>;

/** Where an alert comes from decides who may notify it (see ha.ts). */
export type AlertScope = 'cluster' | 'local' | 'external';

export interface Alert {
  labels: LabelSet;
  annotations: LabelSet;
  /** ISO-8601. */
  startsAt: string;
  /** ISO-8601; the zero time while the alert is firing and its end is unknown. */
  endsAt: string;
  updatedAt: string;
  generatorURL: string;
  fingerprint: string;
  scope: AlertScope;
  /** One-shot alerts (leader changed, OOM) end silently: their resolution is not news. */
  notifyResolved: boolean;
}

export const ZERO_TIME = '0001-01-01T00:00:00Z';

export function isResolved(a: Alert, now = Date.now()): boolean {
  return a.endsAt !== ZERO_TIME && Date.parse(a.endsAt) <= now;
}

const FNV_OFFSET = 14695981039346656037n;
const FNV_PRIME = 1099511628211n;
const MASK64 = (1n << 64n) - 1n;
const SEPARATOR = 0xff;

/**
 * Prometheus' LabelSet.Fingerprint (FNV-1a 64 over sorted name, 0xff, value, 0xff), so a fingerprint computed
 * here equals the one Alertmanager would show for the same labels, on every instance that sees the alert.
 */
export function fingerprintOf(labels: LabelSet): string {
  let h = FNV_OFFSET;
  const add = (byte: number) => { h ^= BigInt(byte); h = (h * FNV_PRIME) & MASK64; };
  for (const name of Object.keys(labels).sort()) {
    for (const b of Buffer.from(name, 'utf8')) add(b);
    add(SEPARATOR);
    for (const b of Buffer.from(labels[name]!, 'utf8')) add(b);
    add(SEPARATOR);
  }
  return h.toString(16).padStart(16, '0');
}

/** `{a="1", b="2"}` — Alertmanager's LabelSet.String(), used inside group keys. */
export function labelSetString(labels: LabelSet): string {
  return '{' + Object.keys(labels).sort().map((k) => `${k}=${JSON.stringify(labels[k])}`).join(', ') + '}';
}

export function pickLabels(labels: LabelSet, names: readonly string[]): LabelSet {
  const out: LabelSet = {};
  for (const n of names) if (labels[n] !== undefined && labels[n] !== '') out[n] = labels[n]!;
  return out;
}

/** Labels whose value is the same on every alert of the list (Alertmanager's commonLabels). */
export function commonOf(sets: readonly LabelSet[]): LabelSet {
  if (sets.length === 0) return {};
  const out: LabelSet = { ...sets[0] };
  for (const s of sets.slice(1)) for (const k of Object.keys(out)) if (s[k] !== out[k]) delete out[k];
  return out;
}
