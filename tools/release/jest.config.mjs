import { jestConfig } from '../../jest.preset.mjs';

// The registry test builds, packs, publishes and installs real packages: give it room.
export default jestConfig(import.meta.dirname, { testTimeout: 600_000 });
