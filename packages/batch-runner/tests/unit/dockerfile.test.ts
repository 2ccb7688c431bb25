// The Dockerfile's contract: multi-stage, slim Node 22/24 base, production
// dependencies only, non-root, the CLI as exec-form entrypoint.
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';

const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');

describe('Dockerfile', () => {
  const instructions = dockerfile.split('\n').filter((line) => /^[A-Z]+\s/.test(line));

  it('builds in two stages on a Node 22 or 24 slim base', () => {
    const bases = instructions.filter((line) => line.startsWith('FROM'));
    expect(bases).toHaveLength(2);
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:(22|24)-slim$/m);
    expect(bases.every((line) => line.includes('${NODE_IMAGE}'))).toBe(true);
  });

  it('installs production dependencies only and runs as a non-root user', () => {
    expect(dockerfile).toMatch(/npm install --omit=dev/);
    const lastUser = instructions.filter((line) => line.startsWith('USER')).at(-1);
    expect(lastUser).toBeDefined();
    expect(lastUser).not.toMatch(/USER\s+(root|0)\b/);
  });

  it('has the bundle as exec-form entrypoint so the container command is the CLI arguments', () => {
    const entrypoint = instructions.find((line) => line.startsWith('ENTRYPOINT'));
    const argv = JSON.parse(entrypoint?.replace(/^ENTRYPOINT\s+/, '') ?? 'null') as string[];
    expect(argv[0]).toBe('node');
    expect(argv.at(-1)).toBe('/app/main.js');
  });
});
