export * from './errors.js';
export type { MarketSource, SourceRequest, SourceResult } from './source.js';
export { SyntheticSource } from './synthetic.js';
export type { SyntheticBar, SyntheticDividend, SyntheticOptions, SyntheticSplit } from './synthetic.js';
export { DEFAULT_POLYGON_BASE_URL, DividendsPageSchema, GroupedDailySchema, PolygonSource, SplitsPageSchema, TickerEventsPageSchema, TickersPageSchema } from './polygon.js';
export type { PolygonOptions } from './polygon.js';
export { HttpClient, RateLimiter, parseRetryAfter } from './http.js';
export type { GetOptions, HttpClientOptions, HttpResponse, Sleep } from './http.js';
export { eventsBackfillFromEnv, loadConfig, readConfig, sourceFromEnv } from './config.js';
export type { Env, FetchersConfig, SecretsClient, SourceOverrides } from './config.js';
export {
  DEFAULT_EVENTS_BACKFILL_SECONDS,
  DEFAULT_LOOKBACK_SESSIONS,
  EVENTS_CHUNK,
  DEFAULT_MAX_BACKFILL_SESSIONS,
  MAX_LOOKBACK_SESSIONS,
  dividendsCoverage,
  fetchMeta,
  fetchOhlcv,
  fetchSessions,
  latestFetchableSession,
  parseEvent,
  sessionsToFetch,
  splitsCoverage,
} from './fetch.js';
export type { EventsBackfill, FetchSessionsDeps, FetchSessionsOptions, FetchSessionsReport } from './fetch.js';
export { createMetaHandler, createOhlcvHandler, handlerFromEnv, metaHandler, ohlcvHandler } from './handlers.js';
export type { FetchDeps, FetchEvent, FetchHandler, FetchLogger, FetchResult, HandlerContext } from './handlers.js';
