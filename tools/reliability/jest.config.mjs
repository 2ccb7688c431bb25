import { jestConfig } from '../../jest.preset.mjs';

// One worker: the scenarios start child processes and servers of their own,
// and the machine's two cores are shared.
export default jestConfig(import.meta.dirname, {
  maxWorkers: 1,
  testTimeout: 180_000,
  globalSetup: '<rootDir>/tests/support/global-setup.mjs',
  globalTeardown: '<rootDir>/tests/support/global-teardown.mjs',
});
