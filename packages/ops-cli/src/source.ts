import { positiveInt, type Config, type Env } from './config.js';
import { UsageError } from './errors.js';
import { loadFetchers, type MarketSourceLike } from './seams.js';

export interface SourceFlags {
  source?: 'synthetic' | 'polygon';
  seed?: string;
  syntheticTickers?: string;
}

export interface ChosenSource {
  kind: 'synthetic' | 'polygon';
  /** The one line said at start. */
  banner: string;
  seed?: number;
  tickers?: number;
  /** The source; `concurrency` sets the vendor client's requests in flight (POLYGON_CONCURRENCY). */
  create(now?: () => Date, tuning?: { concurrency?: number }): Promise<MarketSourceLike>;
}

/** Polygon when asked or when a key is set; the synthetic market otherwise. */
export function chooseSource(flags: SourceFlags, cfg: Config, env: Env = {}): ChosenSource {
  const seed = positiveInt('--seed', flags.seed ?? '42', { min: 0 });
  const tickers = positiveInt('--synthetic-tickers', flags.syntheticTickers ?? '300', { min: 1, max: 20_000 });
  const kind = flags.source ?? (cfg.polygonApiKey ? 'polygon' : 'synthetic');
  if (kind === 'polygon') {
    const apiKey = cfg.polygonApiKey;
    if (!apiKey) {
      throw new UsageError('--source polygon needs an API key: export POLYGON_API_KEY=<your key>, or use --source synthetic');
    }
    // The fetchers read their own tuning (POLYGON_RPM, POLYGON_CONCURRENCY, ...) from the environment.
    const sourceEnv = { ...env, FIBBARS_SOURCE: 'polygon', POLYGON_API_KEY: apiKey, POLYGON_BASE_URL: cfg.polygonBaseUrl, FIBBARS_LAKE: cfg.lake };
    return {
      kind,
      banner: `source: Polygon at ${cfg.polygonBaseUrl} (POLYGON_API_KEY is set${env.POLYGON_RPM ? `, ${env.POLYGON_RPM} requests/min` : ', 5 requests/min unless POLYGON_RPM says more'})`,
      create: async (now, tuning) =>
        (await loadFetchers()).sourceFromEnv(
          tuning?.concurrency === undefined ? sourceEnv : { ...sourceEnv, POLYGON_CONCURRENCY: String(tuning.concurrency) },
          now ? { now } : {},
        ),
    };
  }
  const why = flags.source === 'synthetic' ? '--source synthetic' : 'no POLYGON_API_KEY';
  return {
    kind,
    seed,
    tickers,
    banner: `${why}: using the synthetic market (seed ${seed}, ${tickers} tickers)`,
    create: async (now) => new (await loadFetchers()).SyntheticSource({ seed, tickers, ...(now ? { now } : {}) }),
  };
}
