/**
 * Each committed dashboard JSON file is checked against Grafana's published dashboard schema
 * (@grafana/schema from the npm registry) by the TypeScript compiler: the file's content becomes an
 * object literal typed as the schema's Dashboard, so a missing required field, a wrong type, an
 * unknown enum value or an unknown property fails. A deliberately broken copy proves the check bites.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { DASHBOARDS } from '../../grafana-dashboards/src/index.js';

const ROOT = path.resolve(__dirname, '../..');
const SCHEMA = path.join(ROOT, 'grafana-dashboards/src/schema.js');
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'swarmwatch-dashboard-schema-'));

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function checkFile(name: string, json: string): string {
  const file = path.join(work, `${name}.ts`);
  fs.writeFileSync(file, `import type { DashboardJson } from ${JSON.stringify(SCHEMA)};\nexport const dashboard: DashboardJson = ${json};\n`);
  return file;
}

async function tsc(files: string[]): Promise<{ code: number; out: string }> {
  const project = path.join(work, `tsconfig-${path.basename(files[0]!, '.ts')}.json`);
  fs.writeFileSync(project, JSON.stringify({
    compilerOptions: { noEmit: true, strict: true, skipLibCheck: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', types: [] },
    files,
  }));
  const args = [TSC, '-p', project];
  try {
    const r = await promisify(execFile)(process.execPath, args, { cwd: ROOT, timeout: 120_000 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('dashboards against Grafana\'s published schema', () => {
  it('every committed dashboard type-checks as @grafana/schema Dashboard', async () => {
    const files = DASHBOARDS.map((d) => checkFile(path.basename(d.file, '.json'), fs.readFileSync(path.join(ROOT, 'grafana-dashboards', d.file), 'utf8')));
    const r = await tsc(files);
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  }, 120_000);

  it('rejects a dashboard with an unknown field, a bad enum value or a missing required field', async () => {
    const original = fs.readFileSync(path.join(ROOT, 'grafana-dashboards', DASHBOARDS[0]!.file), 'utf8');
    const broken = {
      'bad-enum': (d: any) => { d.panels[1].fieldConfig.defaults.thresholds.mode = 'absolutely'; },
      'unknown-field': (d: any) => { d.panels[1].colour = 'red'; },
      'missing-field': (d: any) => { delete d.schemaVersion; },
    };
    const files = Object.entries(broken).map(([name, breakIt]) => {
      const d = JSON.parse(original);
      breakIt(d);
      return checkFile(name, JSON.stringify(d, null, 2));
    });
    const r = await tsc(files);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/bad-enum\.ts.*absolutely/);
    expect(r.out).toMatch(/unknown-field\.ts.*colour/);
    expect(r.out).toMatch(/missing-field\.ts.*schemaVersion/);
  }, 120_000);
});
