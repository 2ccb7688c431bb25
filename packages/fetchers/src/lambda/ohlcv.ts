// Lambda entry of the `ohlcv` function: configuration is loaded and checked at
// cold start, so a bad deployment fails at init with the variable's name.
import { handlerFromEnv } from '../handlers.js';

export const handler = await handlerFromEnv('ohlcv');
