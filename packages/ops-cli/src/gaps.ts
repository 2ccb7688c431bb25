// The gap analysis lives in ohlcv-core (with the rest of the data-health checks); re-exported for the commands.
export { findGaps, findGapsInFrame, type GapReport, type TickerHoles } from '@fibbars/ohlcv-core';
