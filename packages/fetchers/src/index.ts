export * from './errors.js';
export type { MarketSource, SourceRequest, SourceResult } from './source.js';
export { SyntheticSource } from './synthetic.js';
export type { SyntheticBar, SyntheticOptions, SyntheticSplit } from './synthetic.js';
