/**
 * The pure parts of the runs table's charts (widgets/TableCharts.tsx, issue 14): scales and their
 * ticks, the brushed range on an axis, label fitting, and colours (a sequential scale for a metric,
 * a stable colour per group or category). No React and no DOM here, so Jest tests them directly.
 *
 * Ticks read well: an axis whose values are all integers gets only integer ticks, an axis with a
 * few distinct values is ticked at those values, and the others get about five "nice" ticks
 * (1, 2 or 5 times a power of ten).
 */
import type { JSONValue } from './request';
import type { Brush } from './table';
import { formatNumber, parseNumber, truncate } from './widgets/format';

/** Characters of a category drawn as a tick; the <title> holds it whole. */
export const TICK_CHARS = 14;
/** A numeric axis with at most this many distinct values is ticked at its values (parallel coordinates). */
export const FEW_VALUES = 6;
/** About the width of a character of an 11 px label, for fitting labels (a bold one is wider: CHAR_PX_BOLD). */
export const CHAR_PX = 6.6;
export const CHAR_PX_BOLD = 7.4;
/** How far past its ends (of the axis) a drag on an axis of a few values or integers still takes a value. */
export const BRUSH_SLACK = 0.03;

// ---------------------------------------------------------------------------------- ticks
/**
 * A round step (1, 2 or 5 times a power of ten) for about `count` ticks over `span`; at least 1
 * when the values are integers (no tick between two integers).
 */
export function niceStep(span: number, count = 5, integer = false): number {
  if (!(span > 0) || !Number.isFinite(span)) {
    return 1;
  }
  const raw = span / Math.max(1, count);
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const error = raw / power; // 1..10: the nearest of 1, 2, 5 and 10 times the power
  const step = power * (error >= Math.sqrt(50) ? 10 : error >= Math.sqrt(10) ? 5 : error >= Math.sqrt(2) ? 2 : 1);
  return integer ? Math.max(1, Math.round(step)) : step;
}

/** Rounded to a step's precision: 0.30000000000000004 reads 0.3. */
function clean(value: number): number {
  return Number(value.toPrecision(12));
}

/**
 * About `count` round ticks within [low, high]; only integers when `integer`. For example
 * `niceTicks(1, 3, 5, true)` is `[1, 2, 3]` (not 1, 1.5, 2, 2.5, 3).
 */
export function niceTicks(low: number, high: number, count = 5, integer = false): number[] {
  const span = ordered(low, high);
  if (span === null || span[0] === span[1]) {
    return span === null ? [] : [span[0]];
  }
  [low, high] = span;
  const step = niceStep(high - low, count, integer);
  const first = Math.ceil(low / step - 1e-9);
  const last = Math.floor(high / step + 1e-9);
  const result: number[] = [];
  for (let i = first; i <= last && result.length < 50; i++) {
    result.push(clean(i * step));
  }
  return result;
}

/** [low, high] in increasing order, or null when either is not a finite number. */
function ordered(low: number, high: number): [number, number] | null {
  if (!Number.isFinite(low) || !Number.isFinite(high)) {
    return null;
  }
  return low <= high ? [low, high] : [high, low];
}

/** [low, high] widened to multiples of the nice step, so both ends of an axis have a tick. */
export function niceDomain(low: number, high: number, count = 5, integer = false): [number, number] {
  if (!Number.isFinite(low) || !Number.isFinite(high) || low >= high) {
    return [low, high];
  }
  const step = niceStep(high - low, count, integer);
  return [clean(Math.floor(low / step + 1e-9) * step), clean(Math.ceil(high / step - 1e-9) * step)];
}

/**
 * Ticks that cover a domain from its first value to its last (a series' steps): both ends, and
 * the nice ticks between them that are not too close to an end. For example steps 1 to 50 are
 * ticked `[1, 10, 20, 30, 40, 50]`, never starting at 10.
 */
export function coverTicks(low: number, high: number, count = 5, integer = false): number[] {
  const span = ordered(low, high);
  if (span === null || span[0] === span[1]) {
    return span === null ? [] : [span[0]];
  }
  [low, high] = span;
  const step = niceStep(high - low, count, integer);
  const inner = niceTicks(low, high, count, integer).filter(t => t - low >= step / 2 && high - t >= step / 2);
  return [low, ...inner, high];
}

/**
 * The indices of the ticks to label, so that no two labels are nearer than their sizes allow:
 * `at` are positions in pixels along the axis, `size(i)` the room the i-th label needs (its
 * height on a vertical axis, its width on a horizontal one). The lowest and highest are kept.
 */
export function spaceTicks(at: number[], size: (index: number) => number, gap = 3): number[] {
  const order = at.map((_, i) => i).sort((a, b) => at[a] - at[b]);
  const kept: number[] = [];
  const clear = (a: number, b: number) => Math.abs(at[a] - at[b]) >= (size(a) + size(b)) / 2 + gap;
  for (const i of order) {
    if (kept.length === 0 || clear(kept[kept.length - 1], i)) {
      kept.push(i);
    }
  }
  // The highest tick labels the axis's end: it replaces the kept one before it when they collide.
  const highest = order[order.length - 1];
  if (highest !== undefined && kept[kept.length - 1] !== highest) {
    while (kept.length > 1 && !clear(kept[kept.length - 1], highest)) {
      kept.pop();
    }
    if (kept.length === 0 || clear(kept[kept.length - 1], highest)) {
      kept.push(highest);
    }
  }
  return kept.sort((a, b) => a - b);
}

/** `text` cut with an ellipsis to fit `px` pixels (at `charPx` a character), at least `min` characters. */
export function fitText(text: string, px: number, charPx = CHAR_PX, min = 3): string {
  return truncate(text, Math.max(min, Math.floor(px / charPx)));
}

// --------------------------------------------------------------------------------- scales
export interface IScale {
  kind: 'number' | 'category';
  /** Position in 0..1 of a value, or null when it cannot be placed (missing, NaN, ±∞). */
  at(value: JSONValue | undefined): number | null;
  /** Ticks as [position 0..1, label, full label]. */
  ticks: [number, string, string][];
  /** The numeric domain (the values at positions 0 and 1, padding included); 0 and 1 for categories. */
  low: number;
  high: number;
  categories: string[];
  /** Every value is an integer (its ticks are integers too). */
  integer: boolean;
  /** The distinct values when they are few and ticked as themselves (a brush snaps to them), else []. */
  values: number[];
}

export interface IScaleOptions {
  /** About this many ticks on a numeric axis. */
  count?: number;
  /** Fraction of the span added at each end (0.05: no point on an axis line). */
  pad?: number;
  /** Ticks at the values themselves when there are at most this many distinct ones (0: never). */
  few?: number;
  /** Widen a numeric domain to the nice ticks, so both ends have a tick. */
  nice?: boolean;
  /** Values that widen the domain (or add categories) without being ticked: a brush's range. */
  extend?: (JSONValue | undefined)[];
}

export function categoryOf(value: JSONValue | undefined): string | null {
  if (value === undefined || value === null) {
    return null;
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function isNumeric(values: (JSONValue | undefined)[]): boolean {
  const present = values.filter(v => v !== undefined && v !== null);
  return present.length > 0 && present.every(v => typeof v === 'number' || parseNumber(v) !== null);
}

/** A numeric scale when every value present is a finite number (or NaN, ±∞), else the values as categories. */
export function makeScale(values: (JSONValue | undefined)[], options: IScaleOptions = {}): IScale {
  const { count = 5, pad = 0, few = 0, nice = false, extend = [] } = options;
  const present = values.filter(v => v !== undefined && v !== null);
  if (isNumeric(values) || (present.length === 0 && isNumeric(extend))) {
    const finite = present.map(v => parseNumber(v)!).filter(Number.isFinite);
    const distinct = [...new Set(finite)].sort((a, b) => a - b);
    const integer = finite.length > 0 && finite.every(Number.isInteger);
    let low = Infinity;
    let high = -Infinity;
    for (const v of [...finite, ...extend.map(parseNumber).filter((n): n is number => n !== null && Number.isFinite(n))]) {
      low = Math.min(low, v);
      high = Math.max(high, v);
    }
    if (low > high) {
      low = 0;
      high = 1;
    }
    let tickValues: number[];
    const ticked = distinct.length > 0 && distinct.length <= few;
    if (ticked) {
      tickValues = distinct;
    } else {
      if (nice) {
        [low, high] = niceDomain(low, high, count, integer);
      }
      tickValues = [];
    }
    if (pad > 0 && high > low) {
      const span = high - low;
      [low, high] = [low - pad * span, high + pad * span];
    }
    if (tickValues.length === 0) {
      tickValues = niceTicks(low, high, count, integer);
    }
    const span = high - low;
    const place = (n: number) => (span === 0 ? 0.5 : (n - low) / span);
    const at = (value: JSONValue | undefined) => {
      const n = parseNumber(value);
      return n !== null && Number.isFinite(n) ? place(n) : null;
    };
    const ticks = tickValues.map(t => [place(t), formatNumber(t), formatNumber(t)] as [number, string, string]);
    return { kind: 'number', at, ticks, low, high, categories: [], integer, values: ticked ? distinct : [] };
  }
  const categories = [...new Set([...present, ...extend].filter(v => v !== undefined && v !== null).map(v => categoryOf(v)!))].sort();
  const inner = 1 - 2 * pad;
  const place = new Map(categories.map((c, i) => [c, categories.length === 1 ? 0.5 : pad + (inner * i) / (categories.length - 1)]));
  const at = (value: JSONValue | undefined) => {
    const c = categoryOf(value);
    return c === null ? null : (place.get(c) ?? null);
  };
  // Many categories: label about 12 of them, evenly (the chart drops any that would overlap).
  const every = Math.max(1, Math.ceil(categories.length / 12));
  const ticks = categories
    .filter((_, i) => i % every === 0)
    .map(c => [place.get(c)!, truncate(c, TICK_CHARS), c] as [number, string, string]);
  return { kind: 'category', at, ticks, low: 0, high: 1, categories, integer: false, values: [] };
}

// --------------------------------------------------------------------------------- brushes
/**
 * The brush of a drag from position a to b (0..1, 0 at the bottom) on an axis. On an axis of a
 * few values, or of integers, it is the values the drag covers (a drag from just below the top of
 * max_depth 1..3 is `2 – 3`, not `2.4 – 2.98`, which held no run); elsewhere the range dragged.
 */
export function brushOf(column: string, scale: IScale, a: number, b: number): Brush | null {
  const [from, to] = [Math.min(a, b), Math.max(a, b)];
  if (scale.kind === 'number') {
    const span = scale.high - scale.low;
    const low = scale.low + from * span;
    const high = scale.low + to * span;
    const slack = BRUSH_SLACK * span;
    if (scale.values.length > 0) {
      const inside = scale.values.filter(v => v >= low - slack && v <= high + slack);
      if (inside.length > 0) {
        return { column, low: inside[0], high: inside[inside.length - 1] };
      }
    } else if (scale.integer) {
      const [first, last] = [Math.ceil(low - slack), Math.floor(high + slack)];
      if (first <= last) {
        return { column, low: first, high: last };
      }
    }
    return { column, low: Number(low.toPrecision(6)), high: Number(high.toPrecision(6)) };
  }
  const values = scale.categories.filter(c => {
    const p = scale.at(c)!;
    return p >= from - 1e-9 && p <= to + 1e-9;
  });
  return values.length === 0 ? null : { column, values };
}

/** The values a brush adds to its axis's domain, so the brushed range stays on the axis. */
export function brushExtent(brush: Brush): JSONValue[] {
  return 'values' in brush ? brush.values : [brush.low, brush.high];
}

/** Where a brush lies on its axis: [from, to] positions in 0..1, or null when it is not on it. */
export function brushSpan(brush: Brush, scale: IScale): [number, number] | null {
  const clamp = (p: number) => Math.min(1, Math.max(0, p));
  if ('values' in brush) {
    const at = brush.values.map(v => scale.at(v)).filter((p): p is number => p !== null);
    return at.length === 0 ? null : [clamp(Math.min(...at)), clamp(Math.max(...at))];
  }
  if (scale.kind !== 'number') {
    return null;
  }
  const span = scale.high - scale.low;
  if (span === 0) {
    return scale.low >= brush.low && scale.low <= brush.high ? [0.5, 0.5] : null;
  }
  const from = clamp((brush.low - scale.low) / span);
  const to = clamp((brush.high - scale.low) / span);
  return from === to && (brush.high < scale.low || brush.low > scale.high) ? null : [from, to];
}

// --------------------------------------------------------------------------------- colours
/** Viridis from its darkest to yellow-green (its palest yellow cannot be seen on white). */
export const SEQUENTIAL = ['#440154', '#482475', '#414487', '#355f8d', '#2a788e', '#21918c', '#22a884', '#44bf70', '#7ad151', '#bddf26'];

/** The colour of position t (0..1) on the sequential scale: a metric's value, low dark, high light. */
export function sequentialColour(t: number): string {
  if (!Number.isFinite(t)) {
    return '#999999';
  }
  const x = Math.min(1, Math.max(0, t)) * (SEQUENTIAL.length - 1);
  const i = Math.min(SEQUENTIAL.length - 2, Math.floor(x));
  const f = x - i;
  const [a, b] = [SEQUENTIAL[i], SEQUENTIAL[i + 1]];
  const channel = (k: number) => {
    const from = parseInt(a.slice(1 + 2 * k, 3 + 2 * k), 16);
    const to = parseInt(b.slice(1 + 2 * k, 3 + 2 * k), 16);
    return Math.round(from + (to - from) * f)
      .toString(16)
      .padStart(2, '0');
  };
  return `#${channel(0)}${channel(1)}${channel(2)}`;
}

/** A group's key (its by-params' values, in order) or a category ([value]). */
export type Key = (JSONValue | undefined)[];

/** A key as text, the same for the same values (the map key of its colour). */
export function keyText(key: Key): string {
  return JSON.stringify(key.map(v => (v === undefined ? null : v)));
}

function typeRank(value: JSONValue | undefined): number {
  if (value === undefined || value === null) {
    return 4;
  }
  return typeof value === 'number' ? 0 : typeof value === 'boolean' ? 1 : typeof value === 'string' ? 2 : 3;
}

/** Numbers by value (2 before 10), then booleans, text, other JSON; missing last. */
export function compareValues(a: JSONValue | undefined, b: JSONValue | undefined): number {
  const [ra, rb] = [typeRank(a), typeRank(b)];
  if (ra !== rb) {
    return ra - rb;
  }
  if (ra === 0) {
    return (a as number) - (b as number);
  }
  if (ra === 4) {
    return 0;
  }
  const [ta, tb] = ra === 2 ? [a as string, b as string] : [JSON.stringify(a), JSON.stringify(b)];
  return ta < tb ? -1 : ta > tb ? 1 : 0;
}

export function compareKeys(a: Key, b: Key): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const c = compareValues(a[i], b[i]);
    if (c !== 0) {
      return c;
    }
  }
  return 0;
}

/** The distinct keys, sorted by value: the order colours are given in. */
export function sortedKeys(keys: Key[]): Key[] {
  const byText = new Map<string, Key>();
  for (const key of keys) {
    byText.set(keyText(key), key);
  }
  return [...byText.values()].sort(compareKeys);
}

/**
 * A colour per key that depends on the key, not on where it is shown: the keys `all` (every
 * group or category known) are sorted by value and the n-th has the palette's n-th colour. So a
 * group keeps its colour when the table is sorted another way, and the scatter coloured by the
 * same param gives its values the same colours. The `drawn` keys past the palette's length get
 * the colours no other drawn key has. Returns keyText → colour for the drawn keys.
 */
export function stableColours(drawn: Key[], all: Key[], palette: string[]): Map<string, string> {
  const order = new Map(sortedKeys([...all, ...drawn]).map((key, i) => [keyText(key), i]));
  const result = new Map<string, string>();
  const late: [string, number][] = [];
  for (const key of drawn) {
    const text = keyText(key);
    const index = order.get(text)!;
    if (index < palette.length) {
      result.set(text, palette[index]);
    } else {
      late.push([text, index]);
    }
  }
  const free = palette.filter(c => ![...result.values()].includes(c));
  late
    .sort((a, b) => a[1] - b[1])
    .forEach(([text, index], i) => result.set(text, free[i] ?? palette[index % palette.length]));
  return result;
}

// --------------------------------------------------------------------------------- series
/** At most `max` points of a line (more than pixels draw nothing more), its last one kept. */
export function thinPoints<T>(values: T[], max = 1500): T[] {
  if (values.length <= max) {
    return values;
  }
  const stride = values.length / max;
  const kept: T[] = [];
  for (let i = 0; i < max; i++) {
    kept.push(values[Math.floor(i * stride)]);
  }
  kept.push(values[values.length - 1]);
  return kept;
}
