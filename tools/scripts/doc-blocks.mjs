// The fenced code blocks of the workspace's documentation, and what the
// doc-examples test does with each (tools/scripts/README.md, "Documentation
// examples"). Pure: finds, parses and classifies; the test runs them.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Languages executed with Node (TypeScript is stripped with esbuild first). */
export const SCRIPT_LANGS = new Set(['ts', 'typescript', 'js', 'javascript', 'mjs']);
/** Shell blocks: every command line must be a `fibbars` command, or the block says `not-run:`. */
export const SHELL_LANGS = new Set(['sh', 'bash', 'shell']);
/** Transcripts: `$ ` lines are commands (run when they are all `fibbars` commands), the rest is sample output. */
export const CONSOLE_LANGS = new Set(['console', 'shell-session']);
/** Not code: output samples, data, diagrams. Never run, no marker needed. */
export const SAMPLE_LANGS = new Set(['text', 'txt', 'plain', 'output', 'json', 'jsonc', 'json5', 'ndjson', 'diff']);

const EXCLUDED_DIRS = new Set(['node_modules', 'dist', '.changeset', '.git', '.nx', 'tmp', '.test-results', 'cdk.out', 'coverage', 'lake', '.bench-data']);

/** The documentation files: *.md at the root, in docs/ and in each package, app and tool folder (CHANGELOG.md excepted). */
export function docFiles(root = ROOT) {
  const out = [];
  const mdIn = (dir) =>
    fs.existsSync(dir)
      ? fs
          .readdirSync(dir, { withFileTypes: true })
          .filter((e) => e.isFile() && e.name.endsWith('.md') && e.name !== 'CHANGELOG.md')
          .map((e) => path.join(dir, e.name))
      : [];
  out.push(...mdIn(root), ...mdIn(path.join(root, 'docs')));
  for (const group of ['packages', 'apps', 'tools']) {
    const dir = path.join(root, group);
    if (!fs.existsSync(dir)) continue;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory() && !EXCLUDED_DIRS.has(e.name)) out.push(...mdIn(path.join(dir, e.name)));
    }
  }
  return out.map((f) => path.relative(root, f)).sort();
}

/**
 * Parses an info string: `lang [attr ...] [not-run: reason]`.
 * Attributes: `continues` (a script: appended to the file's previous executed
 * script and run with it; a shell or console block: runs after the file's
 * last `fresh` one, in its folder), `fresh` (a shell or console block: starts
 * in an empty folder, no lake), `with=a,b` (fixtures defined before a script
 * runs, see FIXTURES).
 */
export function parseInfo(info) {
  const trimmed = info.trim();
  const nr = /(?:^|\s)not-run:(.*)$/.exec(trimmed);
  const head = nr ? trimmed.slice(0, nr.index) : trimmed;
  const [lang = '', ...attrs] = head.split(/\s+/).filter(Boolean);
  const withAttr = attrs.find((a) => a.startsWith('with='));
  return {
    lang: lang.toLowerCase(),
    notRun: nr ? nr[1].trim() : undefined,
    continues: attrs.includes('continues'),
    fresh: attrs.includes('fresh'),
    with: withAttr ? withAttr.slice('with='.length).split(',').filter(Boolean) : [],
    unknownAttrs: attrs.filter((a) => a !== 'continues' && a !== 'fresh' && !a.startsWith('with=')),
  };
}

/** Every fenced block of a Markdown text: { line (1-based, of the opening fence), info, code }. */
export function extractBlocks(text) {
  const lines = text.split('\n');
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})(.*)$/.exec(lines[i]);
    if (!open) continue;
    const [, indent, fence, info] = open;
    const body = [];
    let j = i + 1;
    const close = new RegExp(`^\\s*${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
    for (; j < lines.length && !close.test(lines[j]); j++) body.push(lines[j].startsWith(indent) ? lines[j].slice(indent.length) : lines[j]);
    blocks.push({ line: i + 1, info, code: body.join('\n') + '\n', endLine: j + 1 });
    i = j;
  }
  return blocks;
}

/** Command lines of a shell block (comments and blank lines dropped, `\` continuations joined). */
export function shellCommands(code) {
  return code
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** The `$ ` commands of a transcript, each with the sample output printed after it. */
export function consoleCommands(code) {
  const out = [];
  for (const line of code.split('\n')) {
    const m = /^\s*\$ (.*)$/.exec(line);
    if (m) out.push({ command: m[1], output: [] });
    else if (out.length > 0 && line.trim() !== '') out.at(-1).output.push(line);
  }
  return out;
}

/** A command is a fibbars command when, after `VAR=value` assignments, its program is `fibbars`. */
export function isFibbarsCommand(command) {
  const words = command.trim().split(/\s+/);
  while (words.length > 0 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0])) words.shift();
  return words[0] === 'fibbars';
}

/**
 * What the test does with a block:
 *   run-script | run-shell | run-console   executed (commands: for shell/console)
 *   not-run                                 carries `not-run: reason`
 *   sample                                  text/json/... (not code)
 *   invalid                                 neither runs nor is marked: `problem` says why
 */
export function classify(block) {
  const info = parseInfo(block.info);
  const base = { ...block, ...info };
  if (info.notRun !== undefined) {
    if (info.notRun === '') return { ...base, action: 'invalid', problem: '`not-run:` needs a reason after the colon' };
    return { ...base, action: 'not-run' };
  }
  if (info.lang === '') {
    return { ...base, action: 'invalid', problem: 'a block without a language: give it one (text/console for samples) or a `not-run: reason`' };
  }
  if (info.unknownAttrs.length > 0) return { ...base, action: 'invalid', problem: `unknown attribute(s) ${info.unknownAttrs.join(', ')}` };
  const unknownFixtures = info.with.filter((f) => !(f in FIXTURES));
  if (unknownFixtures.length > 0) return { ...base, action: 'invalid', problem: `unknown fixture(s) ${unknownFixtures.join(', ')} (known: ${Object.keys(FIXTURES).join(', ')})` };
  if (SCRIPT_LANGS.has(info.lang)) return { ...base, action: 'run-script' };
  if (SAMPLE_LANGS.has(info.lang)) return { ...base, action: 'sample' };
  if (SHELL_LANGS.has(info.lang)) {
    const commands = shellCommands(block.code);
    const other = commands.filter((c) => !isFibbarsCommand(c));
    if (commands.length === 0) return { ...base, action: 'invalid', problem: 'an empty shell block' };
    if (other.length > 0) {
      return { ...base, action: 'invalid', problem: `runs commands that are not fibbars commands (${other[0]}): mark it \`not-run: reason\`` };
    }
    return { ...base, action: 'run-shell', commands };
  }
  if (CONSOLE_LANGS.has(info.lang)) {
    const commands = consoleCommands(block.code);
    const other = commands.filter((c) => !isFibbarsCommand(c.command));
    if (other.length > 0) {
      return { ...base, action: 'invalid', problem: `a transcript of commands that are not fibbars commands ($ ${other[0].command}): mark it \`not-run: reason\`` };
    }
    // A transcript without commands is only output.
    return commands.length === 0 ? { ...base, action: 'sample' } : { ...base, action: 'run-console', commands };
  }
  return { ...base, action: 'invalid', problem: `\`${info.lang}\` blocks are not run: mark it \`not-run: reason\` (or use text for a sample)` };
}

/** Every block of every documentation file, classified, with its file. */
export function docBlocks(root = ROOT) {
  return docFiles(root).flatMap((file) =>
    extractBlocks(fs.readFileSync(path.join(root, file), 'utf8')).map((b) => ({ file, ...classify(b) })),
  );
}

/**
 * Script blocks grouped into programs: a block marked `continues` joins the
 * program of the file's previous executed script block.
 */
export function programs(blocks) {
  const out = [];
  const lastByFile = new Map();
  for (const b of blocks) {
    if (b.action !== 'run-script') continue;
    const prev = lastByFile.get(b.file);
    if (b.continues) {
      if (!prev) throw new Error(`${b.file}:${b.line}: \`continues\` but no executed block before it in the file`);
      prev.blocks.push(b);
      continue;
    }
    const p = { file: b.file, line: b.line, blocks: [b] };
    out.push(p);
    lastByFile.set(b.file, p);
  }
  return out;
}

/**
 * Fixtures a script block asks for with `with=name,...`: code run before the
 * block, in the block's folder (its `./lake` is a copy of the example lake).
 * Helper names start with `__fx` so they never clash with the block's own.
 */
export const FIXTURES = {
  lake: `const { openLake: __fxOpenLake } = await import('@fibbars/ohlcv-core');\nconst lake = __fxOpenLake('./lake');`,
  store: `const { openStore: __fxOpenStore } = await import('@fibbars/ohlcv-core/storage');\nconst store = __fxOpenStore('./lake');`,
  daily: `const daily = await (await import('@fibbars/ohlcv-core')).openLake('./lake').read('ohlcv_1d');`,
  previousDaily: `const previousDaily = await (await import('@fibbars/ohlcv-core')).openLake('./lake').read('ohlcv_1d');`,
  myFrame: `const myFrame = (await (await import('@fibbars/ohlcv-core')).openLake('./lake').read('ohlcv_1d')).drop('vwap', 'transactions');`,
  frame: `const frame = await (await import('@fibbars/ohlcv-core')).openLake('./lake').read('ohlcv_1d');`,
  splits: `const splits = await (await import('@fibbars/ohlcv-core')).openLake('./lake').read('splits');`,
  runId: `const runId = 'doc-example';`,
  // The test runs a block that asks for \`s3\` with a local S3 emulator in its environment
  // (tools/testing's startS3Server on loopback: AWS_ENDPOINT_URL_S3, buckets my-bucket and other-bucket).
  s3: [
    `const { S3Client: __fxS3Client } = await import('@aws-sdk/client-s3');`,
    `const myS3Client = new __fxS3Client({ endpoint: process.env.AWS_ENDPOINT_URL_S3, region: 'us-east-1', forcePathStyle: true,`,
    `  credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'test', secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'test' } });`,
    `const s3Client = myS3Client;`,
  ].join('\n'),
  source: `const source = new (await import('@fibbars/fetchers')).SyntheticSource({ seed: 42, tickers: 40 });`,
  // The raw rows of every session in the raw zone (latest fetch of each), as parseGroupedDaily gives them.
  raw: [
    `const __fxStorage = await import('@fibbars/ohlcv-core/storage');`,
    `const __fxCore = await import('@fibbars/ohlcv-core');`,
    `const __fxRaw = new __fxStorage.RawZone(__fxStorage.openStore('./lake'));`,
    `const __fxPl = (await import('nodejs-polars')).default;`,
    `const raw = __fxPl.concat(await Promise.all([...(await __fxRaw.latestBySession('ohlcv')).values()].map(async (f) =>`,
    `  __fxCore.parseGroupedDaily(await __fxRaw.read(f), f.session, (await __fxRaw.readMeta(f)).fetchedAt, f.fetchId))));`,
  ].join('\n'),
  previousRowCounts: `const previousRowCounts = [40, 40, 39, 40, 40];`,
  tickerPages: [
    `const __fxTStorage = await import('@fibbars/ohlcv-core/storage');`,
    `const __fxTRaw = new __fxTStorage.RawZone(__fxTStorage.openStore('./lake'));`,
    `const tickerPages = await __fxTRaw.read([...(await __fxTRaw.latestBySession('tickers')).values()].at(-1));`,
  ].join('\n'),
  // The inputs of RawZone.write: one vendor page and its request record.
  rawFetch: [
    `const pages = [JSON.stringify({ status: 'OK', resultsCount: 0, results: [] })];`,
    `const url = 'https://api.example.invalid/v2/aggs/grouped/locale/us/market/stocks/2024-06-04?adjusted=false';`,
    `const bytes = pages[0].length;`,
    `const sha256 = (await import('node:crypto')).createHash('sha256').update(pages[0]).digest('hex');`,
  ].join('\n'),
};

/** Rewrites relative import specifiers (examples are written from the repository root) to absolute file URLs. */
export function resolveRelativeImports(code, root = ROOT) {
  return code.replace(/(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]+)\2/g, (_, lead, q, spec) =>
    `${lead}${q}${new URL(spec, `file://${root}/`).href}${q}`,
  );
}
