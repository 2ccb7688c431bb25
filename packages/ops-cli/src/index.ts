// The programmatic surface of @fibbars/ops-cli: run `fibbars` in-process.
export { buildProgram, main, VERSION, type CliIo } from './cli.js';
export { createContext, type Ctx } from './context.js';
export { resolveConfig, normaliseLakeUri, DEFAULTS, type Config, type Env } from './config.js';
export { createLogger, MemoryStream, type Logger, type OutStream } from './output.js';
export {
  EXIT,
  ExitError,
  UsageError,
  MalformedUriError,
  LakeNotFoundError,
  UnknownTickerError,
  NotASessionError,
  IntervalNotConfiguredError,
  CommandFailedError,
  exitCodeOf,
} from './errors.js';
export { renderSvg, renderHtml, renderPng, type ChartOptions, type ChartSplit } from './chart.js';
// The gap analysis lives in ohlcv-core; re-exported here for existing callers.
export { findGaps, findGapsInFrame, type GapReport, type TickerHoles } from '@fibbars/ohlcv-core';
export type { BarRow } from './commands/bars.js';
export { summariseHistory, type HistoryStateRow, type HistoryView } from './history.js';
