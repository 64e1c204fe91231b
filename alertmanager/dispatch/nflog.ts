/**
 * What was last notified per (receiver, group): Alertmanager's notification log. Persisted, it is what stops a
 * restarted engine — or a follower that becomes leader — from notifying the same thing again.
 */
export interface NflogEntry {
  firing: string[];
  resolved: string[];
  /** Unix ms. */
  at: number;
}

export class NotificationLog {
  readonly entries = new Map<string, NflogEntry>();

  constructor(private readonly retentionMs: number) {}

  static keyOf(receiver: string, groupKey: string): string {
    return `${receiver}\u0000${groupKey}`;
  }

  get(key: string): NflogEntry | undefined {
    return this.entries.get(key);
  }

  set(key: string, e: NflogEntry): void {
    this.entries.set(key, e);
  }

  gc(now: number): boolean {
    let changed = false;
    for (const [k, e] of this.entries) if (e.at <= now - this.retentionMs) { this.entries.delete(k); changed = true; }
    return changed;
  }

  restore(list: [string, NflogEntry][]): void {
    for (const [k, e] of list) this.entries.set(k, e);
  }
}

/**
 * Alertmanager's DedupStage.needsUpdate, plus acknowledgement: an acknowledged set of firing alerts does not
 * repeat. `firing`/`resolved` are the fingerprints in the group now (after silences and inhibition).
 */
export function needsUpdate(entry: NflogEntry | undefined, firing: ReadonlySet<string>, resolved: ReadonlySet<string>, now: number, repeatMs: number, allFiringAcked: boolean): boolean {
  if (!entry) return firing.size > 0;
  if (![...firing].every((f) => entry.firing.includes(f))) return true;
  if (firing.size === 0) return entry.firing.length > 0;
  if (![...resolved].every((f) => entry.resolved.includes(f))) return true;
  if (allFiringAcked) return false;
  return entry.at <= now - repeatMs;
}
