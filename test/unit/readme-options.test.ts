import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { envNameOf } from '../../core/config/spec.js';
import { allOptions } from '../../cli/options-table.js';

describe('README options table', () => {
  it('documents every option of every component (run scripts/update-readme-options.sh)', async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const missing = (await allOptions()).filter((o) => !readme.includes(`| \`${o.key}\` | \`${envNameOf(o.key)}\``)).map((o) => o.key);
    expect(missing).toEqual([]);
  });
});
