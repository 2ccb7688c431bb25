/**
 * The `fibbars` program: commander wiring, and the one place where errors
 * become exit codes and a single line on stderr.
 */
import { Command, CommanderError } from 'commander';
import { createContext, type CliIo, type Ctx } from './context.js';
import { EXIT, exitCodeOf, oneLine } from './errors.js';
import { registerRun } from './commands/run.js';
import { registerBackfill } from './commands/backfill.js';
import { registerStages } from './commands/stages.js';
import { registerGaps } from './commands/gaps.js';
import { registerBars } from './commands/bars.js';
import { registerExport } from './commands/export.js';
import { registerPlot } from './commands/plot.js';
import { registerExecutions } from './commands/executions.js';
import { registerControl } from './commands/control.js';
import { registerSchedule } from './commands/schedule.js';
import { registerDoctor } from './commands/doctor.js';
import { registerGc } from './commands/gc.js';
import { registerTickers } from './commands/tickers.js';
import { registerCheck } from './commands/check.js';
import { registerSql } from './commands/sql.js';
import { registerDuckdbViews } from './commands/duckdb-views.js';

export type { CliIo } from './context.js';

export const VERSION = '0.1.0';

export function buildProgram(ctx: Ctx): Command {
  const program = new Command('fibbars')
    .description('Daily US-equities OHLCV pipeline: run it locally or on AWS, inspect runs, query, export and plot bars.')
    .version(VERSION, '-V, --version')
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => void ctx.log.stdout.write(s),
      writeErr: (s) => void ctx.log.stderr.write(s),
      // main() prints the one-line error itself, with the fix.
      outputError: () => undefined,
    })
    .exitOverride()
    .addHelpText(
      'after',
      `
Examples:
  $ fibbars run                          # the daily pipeline on ./lake
  $ fibbars tickers --active --limit 5   # the universe (the synthetic market has AOIZ)
  $ fibbars bars AOIZ --days 5 --last 10
  $ fibbars check                        # data health; exit 1 when something is found
  $ fibbars sql "SELECT ticker, max(close) AS high FROM ohlcv_21d GROUP BY ticker ORDER BY high DESC LIMIT 5"
  $ fibbars plot AOIZ --days 8 --out chart.html
  $ fibbars executions --status FAILED   # then: fibbars describe latest, fibbars redrive latest

Configuration: flags > environment (FIBBARS_LAKE, POLYGON_API_KEY, POLYGON_BASE_URL,
AWS_REGION, AWS_ENDPOINT_URL_S3, FIBBARS_STATE_MACHINE_ARN) > defaults.`,
    );
  registerRun(program, ctx);
  registerBackfill(program, ctx);
  registerStages(program, ctx);
  registerGaps(program, ctx);
  registerCheck(program, ctx);
  registerTickers(program, ctx);
  registerBars(program, ctx);
  registerExport(program, ctx);
  registerSql(program, ctx);
  registerDuckdbViews(program, ctx);
  registerPlot(program, ctx);
  registerExecutions(program, ctx);
  registerControl(program, ctx);
  registerSchedule(program, ctx);
  registerDoctor(program, ctx);
  registerGc(program, ctx);
  return program;
}

/** Runs `fibbars` with `argv` (without the node and script paths); resolves to the exit code. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const ctx = createContext(io);
  const program = buildProgram(ctx);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0) {
        return EXIT.ok;
      }
      // `fibbars` alone prints the help on stderr: a usage error, like any missing argument.
      if (err.code === 'commander.help') return argv.length === 0 ? EXIT.usage : EXIT.ok;
      const command = argv.find((a) => !a.startsWith('-'));
      const known = program.commands.some((c) => c.name() === command);
      const help = known ? `fibbars ${command} --help` : 'fibbars --help';
      const message = err.message
        .replace(/^error:\s*/, '')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '')
        .join(' ');
      ctx.log.error(`${message} (see "${help}")`);
      return EXIT.usage;
    }
    ctx.log.error(oneLine(err));
    if (ctx.env.FIBBARS_DEBUG && err instanceof Error && err.stack) ctx.log.info(err.stack);
    return exitCodeOf(err);
  }
}
