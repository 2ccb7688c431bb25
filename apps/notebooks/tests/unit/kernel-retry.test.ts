import { describe, expect, it } from '@jest/globals';
import { NotebookError, isTslabRace } from '../../scripts/kernel-client.mjs';

// Which failures get a fresh kernel (kernel-client.mjs, executeNotebook): a failed
// start, and tslab's own compiler race; never an error of the cell's code.
describe('a fresh kernel after a failed cell', () => {
  const race = 'quickstart.ipynb: cell 1 (the 1st code cell) failed (execute_reply status error)\nunexpected error: Error: Unexpected pending rebuildTimer\n--- cell source ---\nimport ...';

  it("is given for tslab's 'Unexpected pending rebuildTimer', the race in its TypeScript watch program", () => {
    expect(isTslabRace(new NotebookError(race))).toBe(true);
  });

  it("is not given for the cell's own errors, nor for a message that only mentions the race", () => {
    expect(isTslabRace(new NotebookError('quickstart.ipynb: cell 3 (the 3rd code cell) failed\nConfigError: resample: days must be an integer'))).toBe(false);
    expect(isTslabRace(new NotebookError('cell 2 printed: Unexpected pending rebuildTimer'))).toBe(false);
    expect(isTslabRace(new Error(race))).toBe(false);
  });
});
