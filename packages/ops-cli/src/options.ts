import { Option, type Command } from 'commander';

export const lakeOption = (cmd: Command): Command =>
  cmd.option('--lake <uri>', 'lake folder or s3://bucket/prefix (env FIBBARS_LAKE, default ./lake)');

export const jsonOption = (cmd: Command): Command => cmd.option('--json', 'print the result as JSON on stdout');

export const awsOptions = (cmd: Command): Command =>
  cmd
    .option('--aws', 'act on the deployed pipeline (AWS Step Functions) instead of the local lake')
    .option('--env <name>', 'deployment environment, dev or prod: the stack <env>-fibbars whose outputs name the state machine (env FIBBARS_ENV, default prod)')
    .option('--state-machine-arn <arn>', 'state machine ARN, instead of reading it from the stack (env FIBBARS_STATE_MACHINE_ARN)');

export const sourceOption = (cmd: Command): Command =>
  cmd
    .addOption(
      new Option('--source <source>', 'market data source (default: polygon when POLYGON_API_KEY is set, else synthetic)').choices([
        'synthetic',
        'polygon',
      ]),
    )
    .option('--seed <n>', 'seed of the synthetic market', '42')
    .option('--synthetic-tickers <n>', 'tickers in the synthetic market', '300');

/** The read modes of `--adjust` (ohlcv-core's `Adjust`). */
export type AdjustMode = 'splits' | 'total-return' | 'none';

/** `--adjust`: how prices are adjusted when read (LAKE.md, "Dividends and total return"). */
export const adjustOption = (cmd: Command, defaultNote: string): Command =>
  cmd.addOption(
    new Option(
      '--adjust <mode>',
      `price adjustment: splits (backwards to the latest split), total-return (splits, then cash dividends reinvested at the previous close), none (as stored) (default: ${defaultNote})`,
    ).choices(['splits', 'total-return', 'none']),
  );

/** How a read's prices are described in output, by `--adjust` mode. */
export function adjustLabel(adjust: AdjustMode, days: number): string {
  if (adjust === 'total-return') return 'total-return';
  if (adjust === 'splits') return 'split-adjusted';
  return days === 1 ? 'unadjusted' : "unadjusted (each bar on its end date's split basis)";
}

/** `--identity` and `--as-of` of the commands that read one symbol's history. */
export const identityOptions = (cmd: Command, defaultText = 'security once the lake has a ticker history'): Command =>
  cmd
    .addOption(
      new Option(
        '--identity <by>',
        `security: one history across symbol changes (the bars of FB and META together); ticker: only the rows traded under this symbol (default: ${defaultText})`,
      ).choices(['security', 'ticker']),
    )
    .option('--as-of <date>', 'the symbol names the security it named on this date (YYYY-MM-DD), e.g. FB --as-of 2021-12-31 for Meta');

export const example = (cmd: Command, ...lines: string[]): Command =>
  cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
