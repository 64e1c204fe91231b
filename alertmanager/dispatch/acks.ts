import type { Alert } from '../model.js';

export interface Acknowledgement {
  fingerprint: string;
  /** The firing instance acknowledged: a later firing of the same labels is news again. */
  startsAt: string;
  by: string;
  comment: string;
  at: string;
}

/**
 * Acknowledged alerts stop repeating until they resolve (Alertmanager users have asked for this since
 * 2015, #172/#560). The acknowledgement belongs to one firing instance, identified by fingerprint+startsAt.
 */
export class Acks {
  readonly byFingerprint = new Map<string, Acknowledgement>();

  ack(alert: Alert, by: string, comment: string, now: number): Acknowledgement {
    const a: Acknowledgement = { fingerprint: alert.fingerprint, startsAt: alert.startsAt, by, comment, at: new Date(now).toISOString() };
    this.byFingerprint.set(alert.fingerprint, a);
    return a;
  }

  unack(fingerprint: string): boolean {
    return this.byFingerprint.delete(fingerprint);
  }

  isAcked(alert: Alert): boolean {
    const a = this.byFingerprint.get(alert.fingerprint);
    return a !== undefined && a.startsAt === alert.startsAt;
  }

  /** Drops acknowledgements of instances that no longer fire. */
  gc(firing: readonly Alert[]): boolean {
    const live = new Map(firing.map((f) => [f.fingerprint, f.startsAt]));
    let changed = false;
    for (const [fp, a] of this.byFingerprint) if (live.get(fp) !== a.startsAt) { this.byFingerprint.delete(fp); changed = true; }
    return changed;
  }

  list(): Acknowledgement[] {
    return [...this.byFingerprint.values()];
  }

  restore(list: Acknowledgement[]): void {
    for (const a of list) this.byFingerprint.set(a.fingerprint, a);
  }
}
