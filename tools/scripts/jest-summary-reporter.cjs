// Writes each project's test counts to .test-results/summary.json so that the
// root test command can print one closing line for the whole workspace, also
// when Nx replays a project's tests from its cache, and names the failed tests.
const fs = require('node:fs');
const path = require('node:path');

class SummaryReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
  }
  onRunComplete(_contexts, results) {
    const dir = path.join(this.rootDir, '.test-results');
    fs.mkdirSync(dir, { recursive: true });
    const summary = {
      passed: results.numPassedTests,
      failed: results.numFailedTests,
      skipped: results.numPendingTests + results.numTodoTests,
      // Suites that failed with no failed test in them (an error while loading, in a
      // beforeAll or afterAll): a suite whose tests failed is counted by its tests.
      suitesFailed: results.testResults.filter((f) => f.testExecError || (f.failureMessage && f.numFailingTests === 0)).length,
      suites: results.numTotalTestSuites,
      success: results.success,
      // What failed, a line each, so the closing summary (the last lines a CI log
      // shows) names the test rather than only counting it.
      failures: results.testResults.flatMap((file) => {
        const rel = path.relative(this.rootDir, file.testFilePath);
        const firstLine = (text) =>
          String(text ?? '')
            .replace(/\u001b\[[0-9;]*m/g, '')
            .split('\n')
            .map((l) => l.trim())
            .filter((l) => l && !l.startsWith('at '))
            .slice(0, 3)
            .join(' | ');
        if (file.testExecError || (file.failureMessage && file.numFailingTests === 0)) {
          const why = firstLine(file.testExecError?.message) || firstLine(file.testExecError?.stack) || firstLine(file.failureMessage);
          return [`${rel}: ${why}`.slice(0, 400)];
        }
        return file.testResults
          .filter((t) => t.status === 'failed')
          .map((t) => `${rel} > ${t.fullName}: ${firstLine(t.failureMessages[0])}`.slice(0, 400));
      }),
    };
    fs.writeFileSync(path.join(dir, 'summary.json'), JSON.stringify(summary) + '\n');
  }
}
module.exports = SummaryReporter;
