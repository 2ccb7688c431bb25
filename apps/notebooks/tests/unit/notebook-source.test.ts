import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cells, notebook } from '../../scripts/quickstart-cells.mjs';

const app = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('quickstart.ipynb', () => {
  it('is exactly what scripts/quickstart-cells.mjs generates (no hand edits, no stored outputs)', () => {
    const committed = JSON.parse(fs.readFileSync(path.join(app, 'quickstart.ipynb'), 'utf8')) as unknown;
    expect(committed).toEqual(notebook());
  });

  it('runs on the tslab TypeScript kernel', () => {
    expect(notebook().metadata.kernelspec.name).toBe('tslab');
  });

  it('is shown in the README code for code', () => {
    const readme = fs.readFileSync(path.join(app, 'README.md'), 'utf8');
    const code = (cells as [string, string][]).filter(([type]) => type === 'code').map(([, text]) => text);
    expect(code.length).toBeGreaterThan(3);
    for (const text of code) expect(readme).toContain(text);
  });

  it('is shown in the ohlcv-core README too, up to the chart cell', () => {
    const readme = fs.readFileSync(path.join(app, '../../packages/ohlcv-core/README.md'), 'utf8');
    const code = (cells as [string, string][]).filter(([type]) => type === 'code').map(([, text]) => text);
    // The first three code cells: imports, building the lake, resampling to 5 and 21.
    for (const text of code.slice(0, 3)) expect(readme).toContain(text);
  });
});
