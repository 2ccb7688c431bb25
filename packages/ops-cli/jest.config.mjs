import { jestConfig } from '../../jest.preset.mjs';

// Two workers: the e2e suites spend much of their time waiting on the child
// processes the local engine spawns, so two files in flight finish sooner
// than one at a time, even on two cores.
export default jestConfig(import.meta.dirname, { maxWorkers: 2 });
