/**
 * Child process for the crash test: runs the lake jobs over the lake given as
 * argv[2] and prints `done` at the end. Bundled by `buildChild` (esbuild), so
 * it runs on plain Node.
 */
import { consolidateLake } from '../../src/jobs.js';
import { resampleLake } from '../../src/resample-lake.js';
import { openLake } from '../../src/lake.js';

const [, , lakeUri, runId = 'crash-child', resampleDays = ''] = process.argv;
if (!lakeUri) {
  process.stderr.write('usage: crash-child <lake> [runId] [days,...]\n');
  process.exit(2);
}
const lake = openLake(lakeUri);
// Modules are loaded: the parent times its kill from here.
process.stdout.write('start\n');
await consolidateLake(lake, { runId });
if (resampleDays !== '') await resampleLake(lake, { runId, days: resampleDays.split(',').map(Number) });
process.stdout.write('done\n');
