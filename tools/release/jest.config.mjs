import { jestConfig } from '../../jest.preset.mjs';

// The registry test builds, packs, publishes and installs real packages: give it room.
// tests/oci needs Debian's umoci, skopeo and docker-registry: its own config
// (jest.oci.config.mjs) and its own step of .ci/run, after the README's commands.
export default jestConfig(import.meta.dirname, { testTimeout: 600_000, testPathIgnorePatterns: ['/node_modules/', '<rootDir>/tests/oci/'] });
