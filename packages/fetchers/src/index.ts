export * from './errors.js';
export type { MarketSource, SourceRequest, SourceResult } from './source.js';
export { SyntheticSource } from './synthetic.js';
export type { SyntheticBar, SyntheticOptions, SyntheticSplit } from './synthetic.js';
export {
  DEFAULT_MAX_BACKFILL_SESSIONS,
  fetchMeta,
  fetchOhlcv,
  latestFetchableSession,
  parseEvent,
  sessionsToFetch,
} from './fetch.js';
export { createMetaHandler, createOhlcvHandler } from './handlers.js';
export type { FetchDeps, FetchEvent, FetchHandler, FetchLogger, FetchResult, HandlerContext } from './handlers.js';
