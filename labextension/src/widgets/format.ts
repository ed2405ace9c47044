/**
 * Values from runs as text. Every value reaches the page through React text nodes, never as
 * HTML: a param `<img src=x onerror=alert(1)>` shows literally (issue 4, tests/test_sidebar.py).
 */
import { IDifference, IExecutionError, JSONValue, MetricValue } from '../request';

export const MISSING = '—';

export function formatValue(value: JSONValue | undefined, width = 80): string {
  let text: string;
  if (value === undefined || value === null) {
    return MISSING;
  } else if (typeof value === 'number') {
    text = formatNumber(value);
  } else if (typeof value === 'string') {
    text = value;
  } else {
    text = JSON.stringify(value);
  }
  return text.length <= width ? text : text.slice(0, width - 1) + '…';
}

export function formatNumber(value: number): string {
  if (Number.isInteger(value)) {
    return String(value);
  }
  const text = value.toPrecision(6);
  // 0.910000 -> 0.91, 1.00000e+6 stays as toPrecision wrote it.
  return text.includes('e') ? text : text.replace(/\.?0+$/, '');
}

/** A metric as a number for charts: null (NaN) and the infinities are not drawable. */
export function metricNumber(value: MetricValue | JSONValue | undefined): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) {
    return MISSING;
  }
  if (seconds < 1) {
    return `${Math.round(seconds * 1000)} ms`;
  }
  if (seconds < 60) {
    return `${seconds.toFixed(1)} s`;
  }
  const minutes = Math.floor(seconds / 60);
  return minutes < 60
    ? `${minutes} min ${Math.round(seconds % 60)} s`
    : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function formatTime(epochSeconds: number | null | undefined): string {
  if (epochSeconds === null || epochSeconds === undefined) {
    return MISSING;
  }
  return new Date(epochSeconds * 1000).toLocaleString();
}

export function formatAgo(epochSeconds: number, now = Date.now() / 1000): string {
  const seconds = Math.max(0, now - epochSeconds);
  if (seconds < 60) {
    return `${Math.round(seconds)} s ago`;
  }
  if (seconds < 3600) {
    return `${Math.round(seconds / 60)} min ago`;
  }
  if (seconds < 86400) {
    return `${Math.round(seconds / 3600)} h ago`;
  }
  return new Date(epochSeconds * 1000).toLocaleDateString();
}

/**
 * How long a run has taken: its recorded duration once it ended, the time since its start while
 * it runs (`now` in epoch seconds).
 */
export function runElapsed(
  run: { status: string; start: number; duration: number | null },
  now = Date.now() / 1000
): number | null {
  if (run.status === 'running') {
    return Math.max(0, now - run.start);
  }
  return run.duration;
}

/** The failing cell and its exception, worded as the CLI's verdict words it (ExecutionError.text). */
export function executionErrorText(error: IExecutionError): string {
  if (error.ename === null) {
    return error.message;
  }
  let where = error.cell_index !== null ? `cell ${error.cell_index + 1}` : 'a cell';
  if (error.exec_count) {
    where += ` (In[${error.exec_count}])`;
  }
  return `${where} raised ${error.ename}: ${error.evalue}`;
}

/** One difference of a rerun: `metric acc: 0.91 → 0.9 (abs 0.01)`; timings say they do not count. */
export function differenceText(difference: IDifference): string {
  const { kind, name, detail } = difference;
  let text = `${kind} ${name}: ${formatValue(difference.original, 40)} → ${formatValue(difference.new, 40)}`;
  if (detail) {
    text += ` (${detail})`;
  }
  return difference.counts ? text : `${text} [timings only: not counted]`;
}

export function shortId(runId: string): string {
  return runId.slice(0, 8);
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** Colours for runs in charts and legends (colour-blind friendly, Okabe-Ito). */
export const RUN_COLOURS = [
  '#0072B2',
  '#E69F00',
  '#009E73',
  '#CC79A7',
  '#D55E00',
  '#56B4E9',
  '#F0E442',
  '#000000'
];

export function runColour(index: number): string {
  return RUN_COLOURS[index % RUN_COLOURS.length];
}
