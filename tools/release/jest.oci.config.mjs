import { jestConfig } from '../../jest.preset.mjs';

// The image and registry tests: they need Debian's umoci, skopeo and
// docker-registry (installed by .ci/run's last step), so they run apart from
// the README's `pnpm test` (`nx run release:test-oci`).
export default jestConfig(import.meta.dirname, { testMatch: ['<rootDir>/tests/oci/**/*.test.ts'], testTimeout: 600_000 });
