/**
 * The runs table's state (issue 14): one experiment's runs (or all of them) as the server sorts,
 * filters, searches, groups and pages them. Rows arrive in pages of TABLE_PAGE as the grid scrolls
 * to them; a row shows "…" until its page is there. The column choices persist per experiment in
 * JupyterLab's state database. The table is refreshed by TrackerModel's one Poll (watchView):
 * it runs no timer of its own.
 *
 * Nothing here touches the DOM: widgets/RunsTable.tsx draws it (a @lumino/datagrid over
 * RunsDataModel), and the pure functions below (filters, column order, step bands, ticks) are
 * tested with request.ts mocked.
 */
import { ISignal, Signal } from '@lumino/signaling';

import {
  fetchGroups,
  fetchTable,
  IGroupsPage,
  IRunGroup,
  ITableColumn,
  ITablePage,
  ITableQuery,
  ITableRow,
  JSONValue
} from './request';
import {
  formatDuration,
  formatMetric,
  formatNumber,
  formatTime,
  formatValue,
  MISSING,
  parseNumber
} from './widgets/format';

/** Rows per request of the grid (the server's limit is 1,000). */
export const TABLE_PAGE = 100;
/** Pages kept: past this many, the pages farthest from the rows shown are dropped. */
export const MAX_CACHED_PAGES = 50;
/** Page requests of one table at a time: more wait, and are dropped if scrolled past meanwhile. */
export const MAX_IN_FLIGHT = 2;
/** What a row shows until its page arrives. */
export const PENDING = '…';
/** Rows the charts draw at most, fetched CHART_PAGE at a time (the server's limit). */
export const CHART_ROWS = 5000;
export const CHART_PAGE = 1000;
/** Runs whose step series one chart fetches at most (one request each). */
export const MAX_SERIES_RUNS = 50;

/** The run's own columns, always first in the default order. */
export const FIELDS = ['status', 'name', 'experiment', 'start', 'duration'];
const KIND_ORDER: { [kind: string]: number } = { field: 0, param: 1, metric: 2, tag: 3 };
const STATS = ['mean', 'std', 'min', 'max', 'count'] as const;
export type Stat = (typeof STATS)[number];

// --------------------------------------------------------------------------- persisted choices
/** What the user chose about the columns of one experiment's table (saved in IStateDB). */
export interface ITableChoices {
  /** The columns in the user's order (columns not listed follow, in the default order). */
  order: string[];
  hidden: string[];
  hideConstant: boolean;
  sort: string;
  direction: 'asc' | 'desc';
}

export const DEFAULT_CHOICES: ITableChoices = {
  order: [],
  hidden: [],
  hideConstant: false,
  sort: 'start',
  direction: 'desc'
};

/** The part of IStateDB the table uses (IStateDB itself satisfies it). */
export interface IChoiceStore {
  fetch(id: string): Promise<any>;
  save(id: string, value: any): Promise<any>;
}

/** The state database key of an experiment's table; `null` is the table of all experiments. */
export function choicesKey(experiment: string | null): string {
  return `jupyter-tracker:table:${experiment ?? '*'}`;
}

/** Saved choices as they were written, or the defaults for what is missing or malformed. */
export function readChoices(saved: unknown): ITableChoices {
  const value = (saved && typeof saved === 'object' ? saved : {}) as { [key: string]: unknown };
  const strings = (list: unknown) =>
    Array.isArray(list) ? list.filter((item): item is string => typeof item === 'string') : [];
  return {
    order: strings(value.order),
    hidden: strings(value.hidden),
    hideConstant: value.hideConstant === true,
    sort: typeof value.sort === 'string' && value.sort ? value.sort : DEFAULT_CHOICES.sort,
    direction: value.direction === 'asc' || value.direction === 'desc' ? value.direction : DEFAULT_CHOICES.direction
  };
}

// ------------------------------------------------------------------------------ pure functions
/** The default place of a column: the run's fields, then params, metrics, tags (as the server lists them). */
function defaultRank(column: ITableColumn, index: number): number {
  const field = FIELDS.indexOf(column.name);
  return (KIND_ORDER[column.kind] ?? 4) * 1e6 + (field >= 0 ? field : 1000 + index);
}

/**
 * Every column in the order shown in the chooser: the user's order for the columns it names,
 * the others after them in the default order.
 */
export function orderColumns(columns: ITableColumn[], order: string[]): ITableColumn[] {
  const place = new Map(order.map((name, index) => [name, index]));
  const ranked = columns.map((column, index) => ({ column, index, rank: defaultRank(column, index) }));
  ranked.sort((a, b) => {
    const pa = place.get(a.column.name);
    const pb = place.get(b.column.name);
    if (pa !== undefined && pb !== undefined) {
      return pa - pb;
    }
    if (pa !== undefined || pb !== undefined) {
      return pa !== undefined ? -1 : 1;
    }
    return a.rank - b.rank;
  });
  return ranked.map(r => r.column);
}

/** The columns the grid shows: ordered, without the hidden ones and (if chosen) the constant ones; the name always. */
export function shownColumns(columns: ITableColumn[], choices: ITableChoices): ITableColumn[] {
  const hidden = new Set(choices.hidden);
  return orderColumns(columns, choices.order).filter(
    column => column.name === 'name' || (!hidden.has(column.name) && !(choices.hideConstant && column.constant))
  );
}

/** `order` with `name` moved `by` places (-1 up, +1 down) among `all` (the chooser's order). */
export function moveColumn(all: string[], name: string, by: number): string[] {
  const order = [...all];
  const from = order.indexOf(name);
  const to = from + by;
  if (from < 0 || to < 0 || to >= order.length) {
    return order;
  }
  order.splice(from, 1);
  order.splice(to, 0, name);
  return order;
}

/**
 * A value as a literal of the filter language: a string in double quotes with `\` and `"`
 * escaped (JSON's escapes), a number as JSON writes it, true/false. For example
 * `literal('say "hi"')` is `"say \"hi\""`.
 */
export function literal(value: JSONValue): string {
  if (typeof value === 'number') {
    return Number.isFinite(value) ? JSON.stringify(value) : quote(String(value));
  }
  if (typeof value === 'boolean') {
    return String(value);
  }
  if (typeof value === 'string') {
    return quote(value);
  }
  return quote(JSON.stringify(value)); // a list or object param: compared as its JSON text
}

// The filter language's escapes (jupyter_tracker/store/filter.py): \n \t \r \0, and a backslash before
// any other character stands for that character.
const ESCAPES: { [char: string]: string } = { '\\': '\\\\', '"': '\\"', '\n': '\\n', '\t': '\\t', '\r': '\\r', '\0': '\\0' };

function quote(text: string): string {
  return `"${text.replace(/[\\"\n\t\r\0]/g, char => ESCAPES[char])}"`;
}

/** A column as the filter language names it: `params.lr`, or params.`max depth` for a name with other characters. */
export function columnRef(column: string): string {
  const dot = column.indexOf('.');
  if (dot < 0) {
    return column;
  }
  const key = column.slice(dot + 1);
  return /^[\w\-/.:@]+$/.test(key) ? column : `${column.slice(0, dot)}.\`${key}\``;
}

/**
 * The filter of one group's runs: `params.a == 1 and params.b == "x"`; `params.a is missing`
 * for the runs without the param (a key of null).
 */
export function groupFilter(key: { [column: string]: JSONValue }): string {
  return Object.entries(key)
    .map(([column, value]) =>
      value === null ? `${columnRef(column)} is missing` : `${columnRef(column)} == ${literal(value)}`
    )
    .join(' and ');
}

/** Filters that all must hold, as one expression: each in parentheses when there are several. */
export function allOf(filters: (string | null | undefined)[]): string {
  const parts = filters.map(f => (f ?? '').trim()).filter(f => f.length > 0);
  return parts.length <= 1 ? (parts[0] ?? '') : parts.map(f => `(${f})`).join(' and ');
}

/** A brush on a chart's axis: a numeric range `params.lr >= 0.01 and params.lr <= 0.1`, or some categories. */
export type Brush = { column: string; low: number; high: number } | { column: string; values: JSONValue[] };

export function brushFilter(brush: Brush): string {
  const column = columnRef(brush.column);
  if ('values' in brush) {
    const parts = brush.values.map(value =>
      value === null ? `${column} is missing` : `${column} == ${literal(value)}`
    );
    return parts.length === 0 ? `${column} is missing and ${column} is present` : parts.join(' or ');
  }
  return `${column} >= ${literal(brush.low)} and ${column} <= ${literal(brush.high)}`;
}

/** A brush as a short label: `params.lr 0.01 – 0.1`, `params.model rf, gbm`. */
export function brushLabel(brush: Brush): string {
  if ('values' in brush) {
    return `${brush.column} ${brush.values.map(v => formatValue(v, 20)).join(', ')}`;
  }
  return `${brush.column} ${formatNumber(brush.low)} – ${formatNumber(brush.high)}`;
}

/** A cell's text in the grid: times and durations readable, metrics with NaN and ∞, long values cut. */
export function cellText(column: string, value: JSONValue | undefined): string {
  if (value === undefined || value === null) {
    return value === null && column.startsWith('metrics.') ? 'NaN' : MISSING;
  }
  if (column === 'start') {
    return formatTime(parseNumber(value));
  }
  if (column === 'duration') {
    return formatDuration(parseNumber(value));
  }
  if (column.startsWith('metrics.')) {
    return formatMetric(value);
  }
  return formatValue(value, 200);
}

/** One group's statistic of a metric as text. */
export function statText(group: IRunGroup, metric: string, stat: Stat): string {
  const stats = group.metrics[metric];
  if (!stats) {
    return MISSING;
  }
  return stat === 'count' ? String(stats.count) : formatMetric(stats[stat] ?? undefined);
}

export interface IStepStat {
  step: number;
  mean: number;
  min: number;
  max: number;
  count: number;
}

/**
 * The mean, min and max at each step over several runs' series (a group's band); NaN and ±∞
 * points are left out, as the charts leave them out. Steps are the series' own (their index when
 * a point has none).
 */
export function stepStats(series: { steps: (number | null)[]; values: number[] }[]): IStepStat[] {
  const byStep = new Map<number, { sum: number; min: number; max: number; count: number }>();
  for (const one of series) {
    one.values.forEach((value, index) => {
      if (!Number.isFinite(value)) {
        return;
      }
      const raw = one.steps[index];
      const step = typeof raw === 'number' && Number.isFinite(raw) ? raw : index;
      const stat = byStep.get(step);
      if (stat) {
        stat.sum += value;
        stat.min = Math.min(stat.min, value);
        stat.max = Math.max(stat.max, value);
        stat.count += 1;
      } else {
        byStep.set(step, { sum: value, min: value, max: value, count: 1 });
      }
    });
  }
  return [...byStep.entries()]
    .sort(([a], [b]) => a - b)
    .map(([step, s]) => ({ step, mean: s.sum / s.count, min: s.min, max: s.max, count: s.count }));
}

/**
 * About `count` round tick values covering [low, high] (1, 2 or 5 times a power of ten), for
 * axes that read well: `ticks(0, 1, 5)` is `[0, 0.2, 0.4, 0.6, 0.8, 1]`.
 */
export function ticks(low: number, high: number, count = 5): number[] {
  if (!Number.isFinite(low) || !Number.isFinite(high)) {
    return [];
  }
  if (low === high) {
    return [low];
  }
  if (low > high) {
    [low, high] = [high, low];
  }
  const raw = (high - low) / Math.max(1, count);
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const error = raw / power; // 1..10: the nearest of 1, 2, 5 and 10 times the power
  const step = power * (error >= Math.sqrt(50) ? 10 : error >= Math.sqrt(10) ? 5 : error >= Math.sqrt(2) ? 2 : 1);
  const first = Math.ceil(low / step - 1e-9);
  const last = Math.floor(high / step + 1e-9);
  const result: number[] = [];
  for (let i = first; i <= last && result.length < 50; i++) {
    // Rounded to the step's precision: 0.30000000000000004 reads 0.3.
    result.push(Number((i * step).toPrecision(12)));
  }
  return result;
}

// ------------------------------------------------------------------------------------ paging
interface IPage<T> {
  items: T[];
  /** When the page was last used (a counter): the least recently used pages are dropped first. */
  used: number;
}

/** Pages of rows of one query, fetched as they are needed: rowCount is the server's total. */
class PageCache<T> {
  constructor(readonly size: number) {}

  total = 0;
  pages = new Map<number, IPage<T>>();
  inFlight = new Set<number>();

  item(row: number): T | undefined {
    const page = this.pages.get(Math.floor(row / this.size));
    if (page) {
      page.used = ++this._clock;
      return page.items[row % this.size];
    }
    return undefined;
  }

  has(page: number): boolean {
    return this.pages.has(page);
  }

  put(page: number, items: T[]): void {
    this.pages.set(page, { items, used: ++this._clock });
    while (this.pages.size > MAX_CACHED_PAGES) {
      let oldest: number | null = null;
      for (const [index, entry] of this.pages) {
        if (oldest === null || entry.used < this.pages.get(oldest)!.used) {
          oldest = index;
        }
      }
      this.pages.delete(oldest!);
    }
  }

  private _clock = 0;
}

/** The pages holding rows first..last (inclusive), within the total when it is known. */
export function pagesOf(first: number, last: number, size = TABLE_PAGE, total?: number): number[] {
  const end = total === undefined ? last : Math.min(last, total - 1);
  const pages: number[] = [];
  for (let page = Math.floor(Math.max(0, first) / size); page * size <= end; page++) {
    pages.push(page);
  }
  return pages;
}

// ---------------------------------------------------------------------------------- the model
/** A column of the grid: a run's column in runs mode; a by-param, the run count or a statistic in groups mode. */
export interface IGridColumn {
  id: string;
  label: string;
  /** What the server sorts by for this column, or null when it cannot. */
  sort: string | null;
}

export interface ISelectOptions {
  /** Shift-click: the rows from the last clicked one to this one. */
  range?: boolean;
  /** Ctrl- or Cmd-click: this row in or out of the selection. */
  toggle?: boolean;
}

export interface IChartRows {
  total: number;
  rows: ITableRow[];
}

/**
 * One runs table. `experiment` null is all experiments; `fixedFilter` (a group's runs) is
 * added to every query and is not shown in the filter box.
 */
export class TableModel {
  constructor(
    readonly experiment: string | null,
    options: { store?: IChoiceStore | null; fixedFilter?: string; selection?: Map<string, string> } = {}
  ) {
    this._store = options.store ?? null;
    this.fixedFilter = options.fixedFilter ?? '';
    this._selection = options.selection ?? new Map();
  }

  readonly fixedFilter: string;

  /** Anything but the rows changed: columns, total, filter error, selection, grouping. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Rows arrived (a page, or a refresh of the rows shown). */
  get rowsChanged(): ISignal<this, void> {
    return this._rowsChanged;
  }

  /** A different set of rows is asked for (filter, search, sort, grouping, brush) or the store changed: charts reload. */
  get queryChanged(): ISignal<this, void> {
    return this._queryChanged;
  }

  get choices(): ITableChoices {
    return this._choices;
  }

  /** Every column of the matching runs, as the server last listed them. */
  get allColumns(): ITableColumn[] {
    return this._columns;
  }

  /** The run columns shown (runs mode), in order. */
  get shown(): ITableColumn[] {
    return shownColumns(this._columns, this._choices);
  }

  get filter(): string {
    return this._filter;
  }

  get q(): string {
    return this._q;
  }

  get brushes(): Brush[] {
    return [...this._brushes.values()];
  }

  get groupBy(): string[] {
    return this._groupBy;
  }

  /** The metrics the groups show statistics of: the metric columns shown. */
  get groupMetrics(): string[] {
    return this._groupMetrics;
  }

  /** Rows (runs, or groups when grouped) matching the query: the grid's row count. */
  get total(): number {
    return this._cache.total;
  }

  get loaded(): boolean {
    return this._loaded;
  }

  /** Why the last query or refresh failed (the server's message), or null. */
  get error(): string | null {
    return this._error;
  }

  /**
   * The rows shown are not those of the filter or search the user last asked for (it failed):
   * they are the previous query's, and the view says so.
   */
  get stale(): boolean {
    return this._stale;
  }

  /** The filter the user asked for last, when it could not be applied. */
  get rejectedFilter(): string | null {
    return this._stale ? this._pending.filter : null;
  }

  /** The whole filter sent: the fixed one (a group's), the user's and the brushes'. */
  get effectiveFilter(): string {
    return allOf([this.fixedFilter, this._filter, ...this.brushes.map(brushFilter)]);
  }

  get selection(): Map<string, string> {
    return this._selection;
  }

  isSelected(runId: string): boolean {
    return this._selection.has(runId);
  }

  /** The grid's columns now. */
  get gridColumns(): IGridColumn[] {
    if (this._groupBy.length === 0) {
      return this.shown.map(c => ({ id: c.name, label: c.name, sort: c.name }));
    }
    const columns: IGridColumn[] = this._groupBy.map(by => ({ id: `by:${by}`, label: by, sort: by }));
    columns.push({ id: 'runs', label: 'runs', sort: 'runs' });
    for (const metric of this._groupMetrics) {
      for (const stat of STATS) {
        // The server sorts groups by a metric's mean (and by a by-param or the run count).
        columns.push({ id: `stat:${stat}:${metric}`, label: `${metric} ${stat}`, sort: stat === 'mean' ? `metrics.${metric}` : null });
      }
    }
    return columns;
  }

  /** The run shown in a row (runs mode), or undefined before its page arrives. */
  row(index: number): ITableRow | undefined {
    return this._groupBy.length === 0 ? (this._cache.item(index) as ITableRow | undefined) : undefined;
  }

  /** The group shown in a row (groups mode). */
  group(index: number): IRunGroup | undefined {
    return this._groupBy.length > 0 ? (this._cache.item(index) as IRunGroup | undefined) : undefined;
  }

  /** A cell's text: "…" until its page arrives. */
  text(index: number, column: IGridColumn): string {
    const item = this._cache.item(index);
    if (item === undefined) {
      return PENDING;
    }
    if (this._groupBy.length === 0) {
      if (!this._fetchedColumns.has(column.id)) {
        return PENDING; // a column just shown: its values are on their way
      }
      const values = (item as ITableRow).values;
      return cellText(column.id, Object.prototype.hasOwnProperty.call(values, column.id) ? values[column.id] : undefined);
    }
    const group = item as IRunGroup;
    if (column.id === 'runs') {
      return String(group.runs);
    }
    if (column.id.startsWith('by:')) {
      const by = column.id.slice(3);
      const value = group.key[by];
      return value === null || value === undefined ? `${MISSING} (missing)` : formatValue(value, 200);
    }
    const [, stat, ...rest] = column.id.split(':');
    return statText(group, rest.join(':'), stat as Stat);
  }

  /** Load the saved choices, then the first rows. */
  async open(): Promise<void> {
    if (this._store) {
      try {
        this._choices = readChoices(await this._store.fetch(choicesKey(this.experiment)));
      } catch {
        // An unreadable saved state: start from the defaults (and overwrite it at the next change).
      }
    }
    await this._requery({});
  }

  /** The grid shows rows first..last: fetch the pages missing among them (and only them). */
  setViewport(first: number, last: number): void {
    this._viewport = [first, last];
    if (this._requerying > 0) {
      return; // the new query's pages are on their way; the rest is asked for once they are here
    }
    const generation = this._generation;
    const cache = this._cache;
    for (const page of pagesOf(first, last, TABLE_PAGE, this._loaded ? cache.total : undefined)) {
      if (cache.has(page) || cache.inFlight.has(page)) {
        continue;
      }
      if (cache.inFlight.size >= MAX_IN_FLIGHT) {
        break; // the rest once a request is answered, if they are still in view then
      }
      cache.inFlight.add(page);
      void this._fetchPage(page, this._query()).then(
        result => {
          cache.inFlight.delete(page);
          if (generation === this._generation) {
            this._accept(page, result);
            this._rowsChanged.emit();
            this.setViewport(...this._viewport);
          }
        },
        error => {
          cache.inFlight.delete(page);
          if (generation === this._generation) {
            this._error = (error as Error).message;
            this._changed.emit();
          }
        }
      );
    }
  }

  /** Apply a filter expression (Enter in the filter box). A bad one leaves the rows and says why. */
  setFilter(filter: string): Promise<void> {
    return this._requery({ filter: filter.trim() });
  }

  /** The free-text search (names, params, tags and code). */
  setQuery(q: string): Promise<void> {
    return this._requery({ q: q.trim() });
  }

  /** Sort by a column; the same column again reverses the order. */
  sortBy(column: string): Promise<void> {
    const same = this._choices.sort === column;
    const order: 'asc' | 'desc' = same
      ? this._choices.direction === 'asc'
        ? 'desc'
        : 'asc'
      : column === 'name' || column === 'experiment' || column === 'status' || column.startsWith('params.')
        ? 'asc'
        : 'desc';
    this._setChoices({ ...this._choices, sort: column, direction: order });
    return this._requery({});
  }

  /** Show or hide a column (runs mode). Showing one the rows do not carry fetches them again. */
  setHidden(column: string, hidden: boolean): Promise<void> {
    const set = new Set(this._choices.hidden);
    if (hidden) {
      set.add(column);
    } else {
      set.delete(column);
    }
    return this._changeColumns({ ...this._choices, hidden: [...set] });
  }

  setHideConstant(hideConstant: boolean): Promise<void> {
    return this._changeColumns({ ...this._choices, hideConstant });
  }

  /** Move a column up (-1) or down (+1) in the chooser's order. */
  moveColumn(column: string, by: number): void {
    let order = orderColumns(this._columns, this._choices.order).map(c => c.name);
    const shown = new Set(this.shown.map(c => c.name));
    // A shown column moves past the hidden ones next to it too: one click moves it in the grid.
    for (;;) {
      const neighbour = order[order.indexOf(column) + by];
      if (neighbour === undefined) {
        break;
      }
      order = moveColumn(order, column, by);
      if (!shown.has(column) || shown.has(neighbour)) {
        break;
      }
    }
    this._setChoices({ ...this._choices, order });
    this._changed.emit();
    this._rowsChanged.emit();
  }

  /** Put `column` just before `before` (drag and drop in the chooser). */
  placeColumn(column: string, before: string): void {
    const order = orderColumns(this._columns, this._choices.order)
      .map(c => c.name)
      .filter(name => name !== column);
    const at = order.indexOf(before);
    order.splice(at < 0 ? order.length : at, 0, column);
    this._setChoices({ ...this._choices, order });
    this._changed.emit();
    this._rowsChanged.emit();
  }

  /** Group by these params (none: one row per run). */
  setGroupBy(by: string[]): Promise<void> {
    this._groupBy = [...by];
    this._requestedGroupBy = [...by];
    this._selectAnchor = null;
    this._cache = new PageCache(TABLE_PAGE); // rows are not groups: "…" until the groups arrive
    this._changed.emit();
    return this._requery({});
  }

  /** The params the user chose to group by (the grid shows them once the groups arrive). */
  get requestedGroupBy(): string[] {
    return this._requestedGroupBy;
  }

  setBrush(brush: Brush | null, column?: string): Promise<void> {
    const key = brush?.column ?? column;
    if (key === undefined) {
      return Promise.resolve();
    }
    if (brush) {
      this._brushes.set(key, brush);
    } else {
      this._brushes.delete(key);
    }
    return this._requery({});
  }

  /** A click on a row: it alone selected; with `toggle` in or out; with `range` from the last clicked row. */
  select(index: number, options: ISelectOptions = {}): void {
    const row = this.row(index);
    if (!row) {
      return;
    }
    if (options.range && this._selectAnchor !== null) {
      const [from, to] = [Math.min(this._selectAnchor, index), Math.max(this._selectAnchor, index)];
      if (!options.toggle) {
        this._selection.clear();
      }
      for (let i = from; i <= to; i++) {
        const other = this.row(i); // rows not loaded yet cannot be selected: their ids are not known
        if (other) {
          this._selection.set(other.run_id, runName(other));
        }
      }
    } else if (options.toggle) {
      if (this._selection.has(row.run_id)) {
        this._selection.delete(row.run_id);
      } else {
        this._selection.set(row.run_id, runName(row));
      }
      this._selectAnchor = index;
    } else {
      this._selection.clear();
      this._selection.set(row.run_id, runName(row));
      this._selectAnchor = index;
    }
    this._changed.emit();
    this._rowsChanged.emit();
  }

  /** The selection (shared with a group's table) changed elsewhere: show it. */
  notifySelection(): void {
    this._changed.emit();
    this._rowsChanged.emit();
  }

  /** Start as `other` shows its runs (a group's runs below the grid): its columns, sort and search. */
  restoreFrom(other: TableModel): void {
    this._choices = { ...other.choices };
    this._columns = other.allColumns;
    this._q = other.q;
  }

  clearSelection(): void {
    this._selection.clear();
    this._selectAnchor = null;
    this._changed.emit();
    this._rowsChanged.emit();
  }

  /**
   * The poll says the store changed (or runs are running): the rows shown are fetched again,
   * in place; pages out of sight are dropped (rows may have moved) and fetched when scrolled to.
   */
  async refresh(storeChanged = true): Promise<void> {
    if (!this._loaded) {
      return this._requery({});
    }
    const query = this._query();
    const generation = this._generation;
    const pages = pagesOf(this._viewport[0], this._viewport[1], TABLE_PAGE, Math.max(1, this._cache.total));
    try {
      const results = await Promise.all(pages.map(page => this._fetchPage(page, query)));
      if (generation !== this._generation) {
        return;
      }
      this._cache = new PageCache(TABLE_PAGE);
      results.forEach((result, index) => this._accept(pages[index], result, index === 0));
      this._error = null;
    } catch (error) {
      if (generation !== this._generation) {
        return;
      }
      this._error = `Could not refresh the table: ${(error as Error).message}`;
    }
    this._changed.emit();
    this._rowsChanged.emit();
    if (storeChanged) {
      this._queryChanged.emit();
    }
  }

  /**
   * Up to CHART_ROWS rows of the query (CHART_PAGE a request, one after another until the total),
   * with only `columns`: what the charts draw.
   */
  async chartRows(columns: string[]): Promise<IChartRows> {
    const query = { ...this._runsQuery(), columns: ['name', ...columns.filter(c => c !== 'name')] };
    const first = await fetchTable({ ...query, limit: CHART_PAGE, offset: 0 });
    const rows = [...first.rows];
    const offsets: number[] = [];
    for (let offset = CHART_PAGE; offset < Math.min(first.total, CHART_ROWS); offset += CHART_PAGE) {
      offsets.push(offset);
    }
    const pages = await Promise.all(offsets.map(offset => fetchTable({ ...query, limit: CHART_PAGE, offset })));
    pages.forEach(page => rows.push(...page.rows));
    return { total: first.total, rows: rows.slice(0, CHART_ROWS) };
  }

  /** The runs of a group (at most `limit`), for its band of step series. */
  async groupRuns(group: IRunGroup, limit: number): Promise<ITableRow[]> {
    const page = await fetchTable({
      ...this._runsQuery(),
      filter: allOf([this.effectiveFilter, groupFilter(group.key)]),
      columns: ['name'],
      limit,
      offset: 0
    });
    return page.rows;
  }

  /** The first rows of the table as loaded (for charts of "the runs shown" when none is selected). */
  firstRows(count: number): ITableRow[] {
    const rows: ITableRow[] = [];
    for (let i = 0; i < Math.min(count, this._cache.total); i++) {
      const row = this.row(i);
      if (row) {
        rows.push(row);
      }
    }
    return rows;
  }

  dispose(): void {
    this._generation++;
    Signal.clearData(this);
  }

  // ----------------------------------------------------------------------------- private
  private _query(): { filter: string; q: string } {
    return { filter: this._filter, q: this._q };
  }

  /** The table route's query for the runs: experiment, search, sort, the whole filter. */
  private _runsQuery(query: { filter: string; q: string } = this._query()): ITableQuery {
    const sortable = this._columns.length === 0 || this._columns.some(c => c.name === this._choices.sort);
    return {
      experiment: this.experiment ?? undefined,
      filter: allOf([this.fixedFilter, query.filter, ...this.brushes.map(brushFilter)]),
      q: query.q,
      // A sort column no longer there (another store, a renamed metric) falls back to the start time.
      sort: sortable ? this._choices.sort : 'start',
      order: sortable ? this._choices.direction : 'desc'
    };
  }

  private async _fetchPage(
    page: number,
    query: { filter: string; q: string }
  ): Promise<ITablePage | IGroupsPage> {
    const offset = page * TABLE_PAGE;
    if (this._groupBy.length === 0) {
      const columns = this._requestedColumns();
      const result = await fetchTable({ ...this._runsQuery(query), columns, limit: TABLE_PAGE, offset });
      return { ...result, requested: columns } as ITablePage;
    }
    const runs = this._runsQuery(query);
    return fetchGroups({
      by: this._groupBy,
      experiment: runs.experiment,
      filter: runs.filter,
      q: runs.q,
      metrics: this._groupMetrics,
      sort: this._groupSort(),
      order: this._choices.direction,
      limit: TABLE_PAGE,
      offset
    });
  }

  /** What a groups page is sorted by: the table's sort when it is a groups column, else the run count. */
  private _groupSort(): string {
    const sort = this._choices.sort;
    return this.gridColumns.some(c => c.sort === sort) ? sort : 'runs';
  }

  /**
   * The columns the rows must carry: those shown; undefined (all of them, the route's default) before
   * the columns are known and when every column is shown (300 names in every page's URL otherwise).
   */
  private _requestedColumns(): string[] | undefined {
    if (this._columns.length === 0) {
      return undefined;
    }
    const shown = this.shown;
    return shown.length === this._columns.length ? undefined : shown.map(c => c.name);
  }

  /** A page arrived; `fresh`: the first of a new cache (the columns its rows carry start over). */
  private _accept(page: number, result: ITablePage | IGroupsPage, fresh = false): void {
    this._cache.total = result.total;
    if ('rows' in result) {
      const requested = (result as ITablePage & { requested?: string[] }).requested;
      this._cache.put(page, result.rows);
      if (result.columns && result.columns.length > 0) {
        this._columns = result.columns;
      }
      // The columns every cached page carries: a column shown later that one lacks is fetched again.
      const carried = new Set(requested ?? this._columns.map(c => c.name));
      this._fetchedColumns = fresh
        ? carried
        : new Set([...this._fetchedColumns].filter(name => carried.has(name)));
    } else {
      this._cache.put(page, result.groups);
      this._groupMetrics = result.metrics ?? this._groupMetrics;
    }
  }

  /**
   * Ask for the rows of a new query (filter, search, sort, grouping, brush): the pages shown are
   * fetched, and only when they arrive do they replace the rows. A failure (a 400 for a bad
   * filter) keeps the previous rows and marks them stale.
   */
  private async _requery(change: { filter?: string; q?: string }): Promise<void> {
    const query = { ...this._query(), ...change };
    this._pending = query;
    const generation = ++this._generation;
    if (this._groupBy.length > 0) {
      // Statistics of the metric columns shown (the column list comes with the runs' pages).
      if (this._columns.length === 0) {
        try {
          const probe = await fetchTable({ ...this._runsQuery(query), limit: 1, offset: 0, columns: ['name'] });
          if (generation !== this._generation) {
            return;
          }
          this._columns = probe.columns;
        } catch {
          // The groups request below reports the error.
        }
      }
      this._groupMetrics = this.shown.filter(c => c.kind === 'metric').map(c => c.name.slice('metrics.'.length));
    }
    const pages = pagesOf(this._viewport[0], this._viewport[1], TABLE_PAGE);
    let results: (ITablePage | IGroupsPage)[];
    this._requerying += 1;
    try {
      const first = await this._fetchPage(pages[0], query);
      const rest =
        pages.length > 1
          ? await Promise.all(
              pages.slice(1).filter(p => p * TABLE_PAGE < first.total).map(p => this._fetchPage(p, query))
            )
          : [];
      results = [first, ...rest];
    } catch (error) {
      this._requerying -= 1;
      if (generation !== this._generation) {
        return;
      }
      this._error = (error as Error).message;
      this._stale = this._loaded; // rows of the previous query stay, marked as such
      this._changed.emit();
      this._rowsChanged.emit();
      return;
    }
    this._requerying -= 1;
    if (generation !== this._generation) {
      return;
    }
    this._filter = query.filter;
    this._q = query.q;
    this._cache = new PageCache(TABLE_PAGE);
    results.forEach((result, index) => this._accept(pages[index], result, index === 0));
    this._loaded = true;
    this._error = null;
    this._stale = false;
    this._selectAnchor = null;
    this._changed.emit();
    this._rowsChanged.emit();
    this._queryChanged.emit();
    this.setViewport(...this._viewport); // rows in view the first pages did not cover
  }

  /** New column choices: saved, shown; rows fetched again if they lack a column now shown. */
  private async _changeColumns(choices: ITableChoices): Promise<void> {
    this._setChoices(choices);
    this._changed.emit(); // the chooser and the grid's columns now; values not fetched yet show "…"
    const needed = this.shown.map(c => c.name).filter(name => !this._fetchedColumns.has(name));
    if (this._groupBy.length > 0 || needed.length > 0) {
      return this._requery({});
    }
    this._changed.emit();
    this._rowsChanged.emit();
  }

  private _setChoices(choices: ITableChoices): void {
    this._choices = choices;
    if (this._store) {
      void this._store.save(choicesKey(this.experiment), { ...choices }).catch(() => undefined);
    }
  }

  private _store: IChoiceStore | null;
  private _choices: ITableChoices = { ...DEFAULT_CHOICES };
  private _columns: ITableColumn[] = [];
  private _fetchedColumns = new Set<string>();
  private _filter = '';
  private _q = '';
  private _pending: { filter: string; q: string } = { filter: '', q: '' };
  private _brushes = new Map<string, Brush>();
  private _groupBy: string[] = [];
  private _requestedGroupBy: string[] = [];
  private _groupMetrics: string[] = [];
  private _cache = new PageCache<ITableRow | IRunGroup>(TABLE_PAGE);
  private _viewport: [number, number] = [0, 40];
  private _generation = 0;
  private _requerying = 0; // new queries whose first pages are on their way
  private _loaded = false;
  private _error: string | null = null;
  private _stale = false;
  private _selection: Map<string, string>;
  private _selectAnchor: number | null = null;
  private _changed = new Signal<this, void>(this);
  private _rowsChanged = new Signal<this, void>(this);
  private _queryChanged = new Signal<this, void>(this);
}

function runName(row: ITableRow): string {
  const name = row.values.name;
  return typeof name === 'string' ? name : '';
}
