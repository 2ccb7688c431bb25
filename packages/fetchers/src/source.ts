/**
 * The seam between the handlers and the places market data comes from: a
 * source answers with the response bodies exactly as it received (or, for the
 * synthetic market, produced) them, ready for `RawZone.write`.
 */

/** One HTTP request behind a fetch. The URL never carries the API key. */
export interface SourceRequest {
  url: string;
  status: number;
  bytes: number;
  /** sha256 (hex) of the stored page body. */
  sha256: string;
}

/** What a source returns for one dataset and session: raw pages plus their audit trail. */
export interface SourceResult {
  /** Response bodies in request order, as received. */
  pages: string[];
  requests: SourceRequest[];
  /** Result rows over all pages. */
  rows: number;
}

/** A market data source: the vendor's REST API or the synthetic market. */
export interface MarketSource {
  /** `polygon` or `synthetic`: recorded as `source` in each raw metadata record. */
  readonly name: string;
  /** Unadjusted daily bars of every ticker for one session (no request on a non-session). */
  groupedDaily(session: string): Promise<SourceResult>;
  /**
   * Ticker reference snapshot, active and delisted, every page. The vendor
   * answers with today's snapshot; the synthetic market with the one as of
   * `asOf` (default: the latest session on or before today).
   */
  tickers(asOf?: string): Promise<SourceResult>;
  /**
   * Splits executed on one session, or on every session from `from` to `to`
   * (inclusive) in one listing: the vendor's `execution_date.gte` /
   * `execution_date.lte` filter, every page. No request when the range holds
   * no session.
   */
  splits(from: string, to?: string): Promise<SourceResult>;
  /**
   * Cash dividends whose ex-dividend date is one session, or every session
   * from `from` to `to` (inclusive) in one listing: the vendor's
   * `ex_dividend_date.gte` / `ex_dividend_date.lte` filter, every page.
   * Amounts are as the vendor reports them (per share on the ex-dividend
   * date, not adjusted for later splits). No request when the range holds no
   * session.
   */
  dividends(from: string, to?: string): Promise<SourceResult>;
  /**
   * The ticker-change timeline of each id (a composite FIGI, or a ticker or
   * CUSIP): the vendor's `/vX/reference/tickers/{id}/events?types=ticker_change`,
   * one request per id, in the order of `ids`, one page each. An id the
   * vendor does not know (HTTP 404) gives no page and no error; its request
   * (status 404) follows the pages' requests, so `requests` names every id
   * asked. `rows`
   * counts the `ticker_change` events over all pages.
   */
  tickerEvents(ids: readonly string[]): Promise<SourceResult>;
}

/** The result of a fetch that made no request (a non-session date). */
export const EMPTY_RESULT: SourceResult = Object.freeze({ pages: [], requests: [], rows: 0 }) as SourceResult;
