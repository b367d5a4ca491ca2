// Prints vitest's counts from its JSON report as the closing "N passed, N failed, N skipped" line.
// A run that died before vitest wrote its report (type errors, lint) counts as one failure.
import { readFileSync } from 'node:fs';

const [reportPath, statusText] = process.argv.slice(2);
const status = Number(statusText);
let report;
try {
  report = JSON.parse(readFileSync(reportPath, 'utf8'));
} catch {
  console.log('ci: no test report: the type check, the lint or vitest itself failed before any test ran');
  console.log('0 passed, 1 failed');
  process.exit(status || 1);
}
const passed = report.numPassedTests;
const failed = report.numFailedTests + (report.success || status === 0 ? 0 : report.numFailedTests === 0 ? 1 : 0);
const skipped = report.numPendingTests + report.numTodoTests;
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(status);
