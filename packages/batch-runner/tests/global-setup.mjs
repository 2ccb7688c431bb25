// Rebuilds dist/bundle/main.js before the tests run it.
export default async function globalSetup() {
  await import('../scripts/bundle.mjs');
}
