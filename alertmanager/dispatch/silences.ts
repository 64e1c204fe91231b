import { randomUUID } from 'node:crypto';
import { matchesAll, type Matcher } from '../matchers.js';
import type { LabelSet } from '../model.js';

export interface Silence {
  id: string;
  matchers: Matcher[];
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
  updatedAt: string;
}

export type SilenceState = 'pending' | 'active' | 'expired';

export function silenceState(s: Silence, now: number): SilenceState {
  if (Date.parse(s.endsAt) <= now) return 'expired';
  if (Date.parse(s.startsAt) > now) return 'pending';
  return 'active';
}

/** Silences with matchers and an expiry; expired ones are kept a while for the API, then forgotten. */
export class Silences {
  readonly byId = new Map<string, Silence>();

  constructor(private readonly retentionMs: number) {}

  upsert(input: Omit<Silence, 'id' | 'updatedAt'> & { id?: string }, now: number): Silence {
    const s: Silence = { ...input, id: input.id && this.byId.has(input.id) ? input.id : randomUUID(), updatedAt: new Date(now).toISOString() };
    this.byId.set(s.id, s);
    return s;
  }

  /** Ends a silence now; returns false when unknown. */
  expire(id: string, now: number): boolean {
    const s = this.byId.get(id);
    if (!s) return false;
    if (silenceState(s, now) !== 'expired') { s.endsAt = new Date(now).toISOString(); s.updatedAt = s.endsAt; }
    return true;
  }

  silencedBy(labels: LabelSet, now: number): string[] {
    const ids: string[] = [];
    for (const s of this.byId.values()) if (silenceState(s, now) === 'active' && matchesAll(s.matchers, labels)) ids.push(s.id);
    return ids;
  }

  gc(now: number): boolean {
    let changed = false;
    for (const [id, s] of this.byId) if (Date.parse(s.endsAt) <= now - this.retentionMs) { this.byId.delete(id); changed = true; }
    return changed;
  }

  list(): Silence[] {
    return [...this.byId.values()];
  }

  restore(list: Silence[]): void {
    for (const s of list) this.byId.set(s.id, s);
  }
}
