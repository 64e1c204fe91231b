import { matchesAll } from '../matchers.js';
import type { Alert } from '../model.js';
import type { InhibitRule } from '../config/routing.js';

/**
 * An alert is inhibited while a firing alert matches a rule's source matchers, has the same values for the
 * rule's `equal` labels, and is not the alert itself (Alertmanager's inhibit semantics).
 */
export class Inhibitor {
  constructor(private readonly rules: readonly InhibitRule[]) {}

  /** Fingerprints of the firing alerts that inhibit `target`. */
  inhibitedBy(target: Alert, firing: readonly Alert[]): string[] {
    const by: string[] = [];
    for (const rule of this.rules) {
      if (!matchesAll(rule.targetMatchers, target.labels)) continue;
      for (const src of firing) {
        if (src.fingerprint === target.fingerprint) continue;
        if (!matchesAll(rule.sourceMatchers, src.labels)) continue;
        if (rule.equal.every((n) => (src.labels[n] ?? '') === (target.labels[n] ?? ''))) by.push(src.fingerprint);
      }
    }
    return by;
  }
}
