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
  return truncate(text, width);
}

// The text render.json_safe writes for the floats strict JSON cannot hold (issue 13).
const NON_FINITE = new Map<unknown, number>([
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity]
]);

/**
 * A number off the wire: a JSON number as it is, the text "NaN", "Infinity" or "-Infinity"
 * (jupyter_tracker/render.py json_safe) as that JS number; null for anything else (null, other
 * text), which is no number at all. For example `parseNumber('-Infinity')` is `-Infinity`.
 */
export function parseNumber(value: unknown): number | null {
  if (typeof value === 'number') {
    return value;
  }
  return NON_FINITE.get(value) ?? null;
}

/**
 * A logged metric's value off the wire: "NaN" is NaN, and so is null, which is how json_safe
 * wrote NaN before issue 13. Only call this for a metric the run has (its key is there).
 */
export function parseMetric(value: MetricValue | JSONValue | undefined): number {
  return parseNumber(value) ?? NaN;
}

/**
 * A number as text: integers whole, others with 6 significant digits, and NaN, ∞ and −∞
 * (U+2212) as such. For example `formatNumber(-Infinity)` is `−∞`, `formatNumber(1 / 3)`
 * `0.333333`.
 */
export function formatNumber(value: number): string {
  if (typeof value !== 'number') {
    value = parseNumber(value) ?? NaN; // text from the wire a type let through: never toPrecision on it
  }
  if (Number.isNaN(value)) {
    return 'NaN';
  }
  if (!Number.isFinite(value)) {
    return value > 0 ? '∞' : '−∞';
  }
  if (Number.isInteger(value) && Math.abs(value) < 1e15) {
    return String(value);
  }
  // 0.910000 -> 0.91 and 1.50000e-7 -> 1.5e-7; a large integer 1.23457e+17, not 18 digits.
  const [mantissa, exponent] = value.toPrecision(6).split('e');
  const short = mantissa.includes('.') ? mantissa.replace(/\.?0+$/, '') : mantissa;
  return exponent === undefined ? short : `${short}e${exponent}`;
}

/** A metric's value as text: `—` when the run has no such metric (undefined), NaN for null (parseMetric). */
export function formatMetric(value: MetricValue | JSONValue | undefined): string {
  return value === undefined ? MISSING : formatNumber(parseMetric(value));
}

/** A delta with its sign: `+0.05`, `-0.1`, `+∞`, `−∞`, `NaN`. */
export function formatDelta(delta: number): string {
  return `${delta > 0 ? '+' : ''}${formatNumber(delta)}`;
}

/** The finite numbers can be drawn; NaN and the infinities cannot (charts count them instead). */
export function isDrawable(value: number | null | undefined): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/**
 * `text` cut to at most `limit` characters, the last an ellipsis; never inside a surrogate pair.
 * For example `truncate('abcdef', 4)` is `abc…`.
 */
export function truncate(text: string, limit: number): string {
  if (text.length <= limit) {
    return text;
  }
  let end = Math.max(0, limit - 1);
  const code = text.charCodeAt(end);
  if (end > 0 && code >= 0xdc00 && code <= 0xdfff) {
    end -= 1; // a low surrogate: keep the pair whole by cutting before it
  }
  return text.slice(0, end) + '…';
}

/** How much of a long value shows before it is expanded (issue 13: a 100 KB tag or param). */
export const COLLAPSE = { chars: 300, lines: 5 };

/**
 * The start of a value too long to show whole (more than `chars` characters or `lines` lines),
 * ending in an ellipsis; null when the value is short enough to show as it is.
 */
export function collapse(text: string, limits: { chars: number; lines: number } = COLLAPSE): string | null {
  const head = text.split('\n', limits.lines).join('\n');
  if (head.length === text.length && text.length <= limits.chars) {
    return null;
  }
  return head.length > limits.chars ? truncate(head, limits.chars) : `${head}…`;
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
  // A metric's value may be "Infinity" or "NaN" off the wire: shown as ∞ and NaN, not as that text.
  const show = (value: JSONValue) => (kind === 'metric' && value !== null ? formatMetric(value) : formatValue(value, 40));
  let text = `${kind} ${name}: ${show(difference.original)} → ${show(difference.new)}`;
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
