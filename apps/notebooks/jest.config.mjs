import { jestConfig } from '../../jest.preset.mjs';

// Executing the notebook starts Jupyter and a TypeScript kernel: give it room.
export default jestConfig(import.meta.dirname, { testTimeout: 600_000 });
