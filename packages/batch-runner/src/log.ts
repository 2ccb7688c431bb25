// JSON-lines logging: progress and the final report on stdout, the one error
// line on stderr. AWS Batch ships both streams to CloudWatch line by line and
// the local engine parses them, so every line is one complete JSON object.

/** Where log lines go; `process.stdout` and `process.stderr` in the binary. */
export interface LineSink {
  write(line: string): unknown;
}

export interface Logger {
  /** One progress or status line on stdout. */
  info(msg: string, fields?: Record<string, unknown>): void;
  /** The error line on stderr: `{"level":"error","error":name,"message":...}`. */
  error(name: string, message: string): void;
}

// BigInt (Polars counts) and Date values would otherwise break JSON.stringify.
function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  return value;
}

export function createLogger(stdout: LineSink, stderr: LineSink): Logger {
  return {
    info(msg, fields = {}) {
      stdout.write(`${JSON.stringify({ level: 'info', msg, ...fields }, replacer)}\n`);
    },
    error(name, message) {
      stderr.write(`${JSON.stringify({ level: 'error', error: name, message })}\n`);
    },
  };
}
