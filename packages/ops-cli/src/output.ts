/**
 * Where the command writes. Tests pass string sinks; `bin.ts` passes the
 * process streams. Data goes to stdout, progress and diagnostics to stderr.
 */

export interface OutStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface Logger {
  /** Human output on stdout (suppressed in --json mode by the commands). */
  out(line: string): void;
  /** Diagnostics and progress on stderr. */
  info(line: string): void;
  warn(line: string): void;
  error(line: string): void;
  /** Machine output: one JSON document on stdout. */
  json(value: unknown): void;
  readonly stdout: OutStream;
  readonly stderr: OutStream;
}

export function createLogger(stdout: OutStream, stderr: OutStream): Logger {
  return {
    stdout,
    stderr,
    out: (line) => void stdout.write(`${line}\n`),
    info: (line) => void stderr.write(`${line}\n`),
    warn: (line) => void stderr.write(`warning: ${line}\n`),
    error: (line) => void stderr.write(`fibbars: ${line}\n`),
    json: (value) => void stdout.write(`${JSON.stringify(value, null, 2)}\n`),
  };
}

/** A string sink, for tests and for capturing output. */
export class MemoryStream implements OutStream {
  chunks: string[] = [];
  constructor(
    readonly isTTY = false,
    readonly columns = 100,
  ) {}
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return true;
  }
  text(): string {
    return this.chunks.join('');
  }
}
