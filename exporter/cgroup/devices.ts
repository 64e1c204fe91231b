/**
 * Block device names by major:minor, like cAdvisor's "/dev/<name>" from the machine's disk map: read from
 * <hostRoot>/proc/partitions, then /sys/dev/block/<maj>:<min>/uevent (DEVNAME=) for devices partitions omits.
 * Cached; an unknown device triggers at most one reload per scrape generation. Unknown devices get ''.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export class DeviceNames {
  private names = new Map<string, string>();
  private loadedGen = -1;

  constructor(private readonly hostRoot: string) {}

  private load(): void {
    this.names.clear();
    let text = '';
    try { text = fs.readFileSync(path.join(this.hostRoot, 'proc/partitions'), 'latin1'); } catch { /* none */ }
    for (const line of text.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length === 4 && /^\d+$/.test(f[0]!) && /^\d+$/.test(f[1]!)) this.names.set(`${f[0]}:${f[1]}`, `/dev/${f[3]}`);
    }
  }

  name(major: number, minor: number, gen: number): string {
    const key = `${major}:${minor}`;
    let n = this.names.get(key);
    if (n !== undefined) return n;
    if (this.loadedGen !== gen) {
      this.loadedGen = gen;
      this.load();
      n = this.names.get(key);
      if (n !== undefined) return n;
    }
    n = '';
    try {
      const ue = fs.readFileSync(path.join(this.hostRoot, 'sys/dev/block', key, 'uevent'), 'latin1');
      const m = /^DEVNAME=(.+)$/m.exec(ue);
      if (m) n = `/dev/${m[1]}`;
    } catch { /* unknown device */ }
    this.names.set(key, n);
    return n;
  }
}
