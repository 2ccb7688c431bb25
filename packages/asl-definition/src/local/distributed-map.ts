/**
 * How the local engine runs a Distributed Map (`ProcessorConfig.Mode:
 * DISTRIBUTED`). aws-local-stepfunctions runs every Map inline and lets the
 * first failed iteration's own error fail the Map. On AWS each iteration of a
 * Distributed Map is a child execution, and the Map Run fails with
 * `States.ExceedToleratedFailureThreshold` once more items failed than the
 * tolerated failure count or percentage allow, both 0 by default:
 * https://docs.aws.amazon.com/step-functions/latest/dg/maprun-fail-threshold.html
 * The Map does not carry the child's error: an alert names the Map's error,
 * and the failed child execution holds the job's (Map Run details).
 *
 * So before a local run, each Distributed Map's item processor is wrapped in
 * a one-branch Parallel state whose Catch ends the iteration with that error:
 * `<Map>Iteration` (Parallel) and `<Map>IterationFailed` (Fail). Iterations
 * still run as child processes, at most MaxConcurrency at once.
 */
import type { StateMachineDefinition } from '../definition.js';

type AnyState = Record<string, unknown>;

/** The Cause the local engine gives a failed Map Run (AWS documents the error name, not its cause text). */
export const MAP_RUN_FAILED_CAUSE =
  'The Map Run failed: the number of failed items exceeded the tolerated failure threshold (0 tolerated); the failed child execution holds the job error';

/** The same definition, each Distributed Map failing as AWS's does (see above); other states as they are. */
export function withDistributedMapSemantics<T extends { States: Record<string, unknown> }>(definition: T): T {
  const states: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(definition.States)) {
    const state = { ...(raw as AnyState) };
    if (Array.isArray(state.Branches)) state.Branches = (state.Branches as Array<{ States: Record<string, unknown> }>).map((b) => withDistributedMapSemantics(b));
    const processor = state.ItemProcessor as ({ ProcessorConfig?: { Mode?: string }; StartAt: string; States: Record<string, unknown> } & AnyState) | undefined;
    if (state.Type === 'Map' && processor) {
      const inner = withDistributedMapSemantics(processor);
      if (processor.ProcessorConfig?.Mode === 'DISTRIBUTED') {
        const { ProcessorConfig, ...branch } = inner as typeof processor;
        const iteration = `${name}Iteration`;
        state.ItemProcessor = {
          ProcessorConfig,
          StartAt: iteration,
          States: {
            [iteration]: {
              Type: 'Parallel',
              Comment: 'Local engine only: one child execution of the Distributed Map.',
              Branches: [branch],
              OutputPath: '$[0]',
              Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: `${iteration}Failed` }],
              End: true,
            },
            [`${iteration}Failed`]: { Type: 'Fail', Error: 'States.ExceedToleratedFailureThreshold', Cause: MAP_RUN_FAILED_CAUSE },
          },
        };
      } else state.ItemProcessor = inner;
    }
    states[name] = state;
  }
  return { ...definition, States: states } as T & StateMachineDefinition;
}
