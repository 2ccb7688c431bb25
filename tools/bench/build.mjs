// Bundles the harness (and ohlcv-core, resolved from source through the
// `@fibbars/source` condition) into dist/, so the bench runs from a fresh
// clone without building any other package first. Native modules stay
// external and resolve from this package's node_modules at run time.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));

await build({
  absWorkingDir: root,
  entryPoints: { cli: 'src/cli.ts', child: 'src/child.ts', profile: 'src/profile.ts' },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // Code splitting keeps ES module semantics for modules that are imported both
  // statically and dynamically (ohlcv-core's jobs load resample lazily); without it
  // esbuild wraps them in lazy initialisers that static importers never run.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  sourcemap: true,
  conditions: ['@fibbars/source'],
  external: ['nodejs-polars', 'nodejs-polars-linux-x64-gnu', '@duckdb/*'],
  // Bundled CommonJS dependencies (the AWS SDK) call require().
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  logLevel: 'warning',
});
