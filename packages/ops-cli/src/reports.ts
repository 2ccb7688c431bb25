/** Summaries of ohlcv-core's job reports and of local run records. */
import type { ConsolidateLakeReport, PipelineRunRecord, ResampleIntervalReport } from './seams.js';

export interface ConsolidateSummary {
  sessions: number;
  accepted: number;
  collapsed: number;
  quarantined: number;
  version: number | null;
  text: string;
}

export function describeConsolidate(report: ConsolidateLakeReport): ConsolidateSummary {
  const { accepted, collapsed, quarantined } = report.rows;
  const sessions = report.sessions.length;
  const version = report.versions.ohlcv_1d.version;
  const text =
    `consolidated ${sessions} session(s): ${accepted} rows accepted, ${collapsed} collapsed, ${quarantined} quarantined` +
    (report.status === 'no-change' ? ' (nothing new)' : version !== null ? ` (ohlcv_1d version ${version})` : '') +
    corrections(report);
  return { sessions, accepted, collapsed, quarantined, version, text };
}

/** The vendor's withdrawals of splits and dividends, and the ones refused, as further lines (empty when none). */
function corrections(report: ConsolidateLakeReport): string {
  const lines: string[] = [];
  const withdrawn = [
    report.splitsWithdrawn > 0 ? `${report.splitsWithdrawn} split(s)` : '',
    report.dividendsWithdrawn > 0 ? `${report.dividendsWithdrawn} dividend(s)` : '',
  ].filter(Boolean);
  if (withdrawn.length > 0) lines.push(`withdrawn by the vendor's newer listings: ${withdrawn.join(', ')}`);
  for (const r of report.withdrawalsRefused ?? []) {
    lines.push(
      `warning: ${r.dataset} fetch ${r.fetchId} (${r.session}) lacks ${r.rows} of the ${r.of} rows of its dates: not withdrawn (a lossy answer?); its rows were added. Refetch it to apply a real withdrawal`,
    );
  }
  return lines.map((l) => `\n${l}`).join('');
}

export interface ResampleSummary {
  days: number;
  bars: number;
  mode: string;
  version: number | null;
  text: string;
}

export function describeResample(r: ResampleIntervalReport): ResampleSummary {
  return {
    days: r.days,
    bars: r.barsWritten,
    mode: r.mode,
    version: r.version,
    text: `resampled ${r.days}d: ${r.barsWritten} bars written (${r.mode}${r.committed && r.version !== null ? `, ${r.dataset} version ${r.version}` : ''})`,
  };
}

/** A state's task output in a local run record (the handler result or the batch job's JSON report). */
function outputOf(record: PipelineRunRecord, state: string): Record<string, unknown> | undefined {
  const runs = record.states.filter((s) => s.name === state && s.status === 'succeeded');
  const out = runs[runs.length - 1]?.output;
  return out && typeof out === 'object' ? (out as Record<string, unknown>) : undefined;
}

export interface RecordNumbers {
  sessions: string[];
  accepted: number;
  collapsed: number;
  quarantined: number;
  barsWritten: Record<string, number>;
}

/** batch-runner's JSON report in a Batch task's output (its last stdout line, which may wrap it in a log record). */
function jobReport(record: PipelineRunRecord, state: string): Record<string, unknown> | undefined {
  const line = outputOf(record, state)?.report as Record<string, unknown> | undefined;
  const inner = line?.report;
  return (inner && typeof inner === 'object' ? inner : line) as Record<string, unknown> | undefined;
}

/** The numbers a local run record holds: fetched sessions, consolidated rows, bars per interval. */
export function recordNumbers(record: PipelineRunRecord): RecordNumbers {
  const fetch = outputOf(record, 'FetchOhlcv');
  const sessions = Array.isArray(fetch?.sessions) ? (fetch.sessions as string[]) : [];
  const cons = (jobReport(record, 'Consolidate') as { consolidate?: ConsolidateLakeReport } | undefined)?.consolidate;
  const barsWritten: Record<string, number> = {};
  for (const d of record.intervals) {
    const rep = (jobReport(record, `Resample${d}d`) as { resample?: ResampleIntervalReport[] } | undefined)?.resample;
    const n = rep?.find((r) => r.days === d)?.barsWritten;
    if (typeof n === 'number') barsWritten[`${d}d`] = n;
  }
  return {
    sessions,
    accepted: cons?.rows.accepted ?? 0,
    collapsed: cons?.rows.collapsed ?? 0,
    quarantined: cons?.rows.quarantined ?? 0,
    barsWritten,
  };
}
