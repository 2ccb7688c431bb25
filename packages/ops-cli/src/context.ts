import { resolveConfig, type Config, type ConfigFlags, type Env } from './config.js';
import { createLogger, type Logger, type OutStream } from './output.js';

/** What the CLI needs from its surroundings; tests pass their own. */
export interface CliIo {
  stdout: OutStream;
  stderr: OutStream;
  env?: Env;
  cwd?: string;
  now?: () => Date;
}

export interface Ctx {
  log: Logger;
  env: Env;
  cwd: string;
  now: () => Date;
  config(flags: ConfigFlags): Config;
}

export function createContext(io: CliIo): Ctx {
  const env = io.env ?? {};
  const cwd = io.cwd ?? process.cwd();
  return {
    log: createLogger(io.stdout, io.stderr),
    env,
    cwd,
    now: io.now ?? (() => new Date()),
    config: (flags) => resolveConfig(flags, env, cwd),
  };
}
