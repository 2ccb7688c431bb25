import { jestConfig } from '../../jest.preset.mjs';

// The integration tests run the built bundle; global setup rebuilds it first
// (esbuild, under a second) so a test never runs a stale bundle.
export default jestConfig(import.meta.dirname, { globalSetup: '<rootDir>/tests/global-setup.mjs' });
