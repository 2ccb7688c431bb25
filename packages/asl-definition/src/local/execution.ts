/**
 * The execution itself: aws-local-stepfunctions runs the definition with the
 * Task handlers bound, the context of a Step Functions execution, and the
 * retry waits scaled for tests.
 */
import { StateMachine } from 'aws-local-stepfunctions';
import type { Retrier, StateMachineDefinition } from '../definition.js';
import type { EngineEvent, StateIndex } from './run-record.js';

/**
 * Waits between retries, scaled. aws-local-stepfunctions only takes a fixed
 * override per retrier, so these getters recompute it before each retry from
 * the attempt count: interval x backoff^(attempt-1), capped, with full jitter.
 */
function scaledRetryWaits(states: StateIndex, scale: number, attempts: ReadonlyMap<string, number>) {
  const overrides: Record<string, number[]> = {};
  for (const [name, { state }] of states) {
    const retriers = state.Retry as Retrier[] | undefined;
    if (!retriers?.length) continue;
    Object.defineProperty(overrides, name, {
      enumerable: true,
      get: () => {
        const failures = Math.max(1, attempts.get(name) ?? 1);
        return retriers.map((r) => {
          let seconds = (r.IntervalSeconds ?? 1) * Math.pow(r.BackoffRate ?? 2, failures - 1);
          if (r.MaxDelaySeconds !== undefined) seconds = Math.min(seconds, r.MaxDelaySeconds);
          let ms = seconds * 1000 * scale;
          if (r.JitterStrategy === 'FULL') ms = Math.random() * ms;
          return Math.max(0, Math.round(ms));
        });
      },
    });
  }
  return overrides;
}

export interface StartExecutionOptions {
  runId: string;
  /** `taskResourceLocalHandlers`, by Task state name. */
  handlers: Record<string, (input: unknown) => Promise<unknown>>;
  /** Check the definition with asl-validator first (ARNs and paths). */
  validate: boolean;
  /** Multiply every retry wait (`retryWaitScale`); absent, the definition's waits. */
  scale?: number;
  /** Every state of the full definition, for the scaled waits. */
  states: StateIndex;
  /** Invocations per Task state so far, for the scaled waits. */
  attempts: ReadonlyMap<string, number>;
}

/** A running execution, as the engine uses it. */
export interface LocalExecution {
  /** Settles when the execution ended (rejects when it failed or was aborted). */
  result: Promise<unknown>;
  /** The engine's events, as they happen. */
  eventLogs: AsyncIterable<EngineEvent>;
  abort(): void;
}

/** Starts the execution named `runId`. */
export function startExecution(definition: StateMachineDefinition, input: unknown, options: StartExecutionOptions): LocalExecution {
  const { runId, scale } = options;
  const machine = new StateMachine(definition as never, {
    validationOptions: options.validate ? { checkArn: true, checkPaths: true } : { noValidate: true },
  });
  return machine.run(input as never, {
    overrides: {
      taskResourceLocalHandlers: options.handlers as never,
      ...(scale === undefined ? {} : { retryIntervalOverrides: scaledRetryWaits(options.states, scale, options.attempts) }),
    },
    context: {
      Execution: { Id: `arn:aws:states:local:000000000000:execution:fibbars-daily-pipeline:${runId}`, Name: runId },
      StateMachine: { Id: 'arn:aws:states:local:000000000000:stateMachine:fibbars-daily-pipeline', Name: 'fibbars-daily-pipeline' },
    },
  });
}
