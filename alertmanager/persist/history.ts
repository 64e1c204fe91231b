import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeLeftoverTempFiles, replaceFileSync } from '../../core/fs/atomic-file.js';

/** One delivery attempt outcome; carries no secret (no URL credentials, no headers, no passwords). */
export interface HistoryRecord {
  time: string;
  notificationId: string;
  receiver: string;
  integration: string;
  groupKey: string;
  status: 'firing' | 'resolved';
  outcome: 'sent' | 'failed' | 'dropped';
  attempts: number;
  alerts: { fingerprint: string; alertname: string; status: 'firing' | 'resolved' }[];
  error?: string;
}

/**
 * Notification history as JSON lines (the audit log Alertmanager never had, #172). Bounded: on start and when
 * it doubles its limit, the file is rewritten with the newest `limit` records.
 */
export class NotificationHistory {
  private readonly path: string;
  private records: HistoryRecord[] = [];

  constructor(dir: string, private readonly limit: number) {
    this.path = join(dir, 'history.jsonl');
    try { removeLeftoverTempFiles(this.path); } catch { /* no state dir yet */ }
    try {
      for (const line of readFileSync(this.path, 'utf8').split('\n')) {
        if (!line) continue;
        try { this.records.push(JSON.parse(line) as HistoryRecord); } catch { /* a torn last line after a crash */ }
      }
    } catch { /* no history yet */ }
    if (this.records.length > limit) this.compact();
  }

  append(r: HistoryRecord): void {
    this.records.push(r);
    appendFileSync(this.path, JSON.stringify(r) + '\n');
    if (this.records.length >= this.limit * 2) this.compact();
  }

  private compact(): void {
    this.records = this.records.slice(-this.limit);
    replaceFileSync(this.path, this.records.map((r) => JSON.stringify(r) + '\n').join(''));
  }

  /** Newest first. */
  list(limit = 100, filter?: (r: HistoryRecord) => boolean): HistoryRecord[] {
    const out: HistoryRecord[] = [];
    for (let i = this.records.length - 1; i >= 0 && out.length < limit; i--) {
      const r = this.records[i]!;
      if (!filter || filter(r)) out.push(r);
    }
    return out;
  }
}
