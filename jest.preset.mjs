// One Jest setup for every project: native ESM (our packages and several
// dependencies are ESM-only), TypeScript through SWC, siblings resolved from
// source through the `@fibbars/source` export condition so a test never waits
// for another package's build.
export function jestConfig(rootDir, overrides = {}) {
  return {
    rootDir,
    testEnvironment: 'node',
    testEnvironmentOptions: {
      customExportConditions: ['@fibbars/source', 'node', 'node-addons'],
    },
    extensionsToTreatAsEsm: ['.ts'],
    transform: {
      '^.+\\.ts$': [
        '@swc/jest',
        {
          jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
          module: { type: 'es6' },
          sourceMaps: 'inline',
        },
      ],
    },
    moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
    testMatch: ['<rootDir>/tests/**/*.test.ts'],
    reporters: ['default', new URL('./tools/scripts/jest-summary-reporter.cjs', import.meta.url).pathname],
    testTimeout: 60_000,
    ...overrides,
  };
}
