/**
 * The runs table's model (table.ts) against a mocked request.ts: paging (only the pages shown,
 * each once), a bad filter keeping the previous rows marked stale, column choices saved per
 * experiment, grouping, selection, the filters built for groups and brushes, and the pure
 * functions the charts use (step bands, ticks).
 */
import {
  allOf,
  brushFilter,
  cellText,
  choicesKey,
  groupFilter,
  literal,
  moveColumn,
  orderColumns,
  pagesOf,
  PENDING,
  readChoices,
  shownColumns,
  stepStats,
  TableModel,
  ticks
} from '../table';
import { TrackerModel } from '../model';
import * as request from '../request';
import { IGroupsQuery, IStatus, ITableColumn, ITablePage, ITableQuery } from '../request';

jest.mock('../request', () => ({
  fetchTable: jest.fn(),
  fetchGroups: jest.fn(),
  fetchStatus: jest.fn(),
  fetchExperiments: jest.fn(),
  fetchColumns: jest.fn(),
  fetchRuns: jest.fn(),
  fetchRun: jest.fn(),
  fetchMetricSeries: jest.fn(),
  fetchJob: jest.fn(),
  startRerun: jest.fn(),
  errorStatus: (error: unknown) => (error as { status?: number }).status
}));

const api = request as jest.Mocked<typeof request>;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message);
  }
}

const COLUMNS: ITableColumn[] = [
  { name: 'tags.t', kind: 'tag', constant: true },
  { name: 'metrics.acc', kind: 'metric', constant: false },
  { name: 'params.n', kind: 'param', constant: false },
  { name: 'params.fixed', kind: 'param', constant: true },
  { name: 'start', kind: 'field', constant: false },
  { name: 'name', kind: 'field', constant: true },
  { name: 'status', kind: 'field', constant: true }
];

/** A fake table route over `total` runs named run0.., acc = i / total. */
function tableRoute(total: number) {
  return async (query: ITableQuery): Promise<ITablePage> => {
    const offset = query.offset ?? 0;
    const limit = query.limit ?? 100;
    const rows = [];
    for (let i = offset; i < Math.min(total, offset + limit); i++) {
      const values: { [key: string]: any } = { name: `run${i}`, 'metrics.acc': i / total, 'params.n': i % 3, status: 'finished' };
      for (const key of Object.keys(values)) {
        if (query.columns && !query.columns.includes(key)) {
          delete values[key];
        }
      }
      rows.push({ run_id: `id${String(i).padStart(6, '0')}`, values });
    }
    return { total, offset, limit, columns: COLUMNS, rows };
  };
}

function lastTable(): ITableQuery {
  const calls = api.fetchTable.mock.calls;
  return calls[calls.length - 1][0];
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await Promise.resolve();
  }
}

function memoryStore() {
  const saved = new Map<string, any>();
  return {
    saved,
    fetch: jest.fn(async (id: string) => saved.get(id)),
    save: jest.fn(async (id: string, value: any) => {
      saved.set(id, JSON.parse(JSON.stringify(value)));
    })
  };
}

beforeEach(() => {
  jest.resetAllMocks();
});

describe('paging', () => {
  it('asks only for the pages in view, each once, and shows … until a page arrives', async () => {
    api.fetchTable.mockImplementation(tableRoute(100_000));
    const table = new TableModel('churn');
    await table.open();
    expect(table.total).toBe(100_000);
    expect(api.fetchTable).toHaveBeenCalledTimes(1);
    expect(api.fetchTable.mock.calls[0][0]).toMatchObject({ experiment: 'churn', offset: 0, limit: 100, sort: 'start', order: 'desc' });
    // scrolled to rows 55,010..55,040: page 550 only, asked once however often the grid paints
    expect(table.text(55_020, { id: 'name', label: 'name', sort: 'name' })).toBe(PENDING);
    table.setViewport(55_010, 55_040);
    table.setViewport(55_010, 55_040);
    await settle();
    expect(api.fetchTable).toHaveBeenCalledTimes(2);
    expect(api.fetchTable.mock.calls[1][0]).toMatchObject({ offset: 55_000, limit: 100 });
    expect(table.text(55_020, { id: 'name', label: 'name', sort: 'name' })).toBe('run55020');
    // rows across two pages: both fetched
    table.setViewport(1_090, 1_110);
    await settle();
    expect(api.fetchTable.mock.calls.slice(2).map(c => c[0].offset)).toEqual([1_000, 1_100]);
  });

  it('has at most two page requests in flight, and drops the pages scrolled past meanwhile', async () => {
    const answers: (() => void)[] = [];
    const route = tableRoute(100_000);
    api.fetchTable.mockImplementation(route);
    const table = new TableModel('churn');
    await table.open();
    api.fetchTable.mockImplementation(query => new Promise(resolve => answers.push(() => resolve(route(query)))));
    table.setViewport(1_000, 1_350); // pages 10..13
    expect(api.fetchTable.mock.calls.slice(1).map(c => c[0].offset)).toEqual([1_000, 1_100]);
    table.setViewport(50_000, 50_030); // scrolled on before they came back
    answers.shift()!();
    await settle();
    // the freed slot goes to the page in view now, not to pages 12 and 13
    expect(api.fetchTable.mock.calls.slice(3).map(c => c[0].offset)).toEqual([50_000]);
  });

  it('asks the rows for only the columns shown, once the columns are known', async () => {
    api.fetchTable.mockImplementation(tableRoute(500));
    const table = new TableModel(null);
    await table.open();
    expect(api.fetchTable.mock.calls[0][0].columns).toBeUndefined(); // the first page learns the columns
    expect(api.fetchTable.mock.calls[0][0].experiment).toBeUndefined(); // all experiments
    table.setViewport(300, 320);
    await settle();
    // every column shown: all of them, the route's default (no list of every name in the URL)
    expect(api.fetchTable.mock.calls[1][0].columns).toBeUndefined();
    await table.setHideConstant(true);
    table.setViewport(400, 420); // a page not fetched yet
    await settle();
    const shown = shownColumns(COLUMNS, table.choices).map(c => c.name);
    expect(shown.length).toBeLessThan(COLUMNS.length);
    expect(api.fetchTable.mock.calls[api.fetchTable.mock.calls.length - 1][0].columns).toEqual(shown);
  });

  it('lists the pages of a range within the total', () => {
    expect(pagesOf(0, 29)).toEqual([0]);
    expect(pagesOf(95, 205)).toEqual([0, 1, 2]);
    expect(pagesOf(0, 500, 100, 150)).toEqual([0, 1]);
  });
});

describe('sort and filter', () => {
  it('sorts by a header clicked, and reverses on a second click', async () => {
    api.fetchTable.mockImplementation(tableRoute(10));
    const table = new TableModel('churn');
    await table.open();
    await table.sortBy('metrics.acc');
    expect(lastTable()).toMatchObject({ sort: 'metrics.acc', order: 'desc' });
    await table.sortBy('metrics.acc');
    expect(lastTable()).toMatchObject({ sort: 'metrics.acc', order: 'asc' });
    expect(table.choices).toMatchObject({ sort: 'metrics.acc', direction: 'asc' });
  });

  it('keeps the previous rows, marked stale, with the server message when a filter is rejected', async () => {
    api.fetchTable.mockImplementation(tableRoute(10));
    const table = new TableModel('churn');
    await table.open();
    await table.setFilter('metrics.acc > 0.5');
    expect(lastTable().filter).toBe('metrics.acc > 0.5');
    expect(table.stale).toBe(false);
    api.fetchTable.mockRejectedValueOnce(new HttpError(400, "bad filter at character 14: expected a value after '>'"));
    await table.setFilter('metrics.acc >');
    expect(table.error).toBe("bad filter at character 14: expected a value after '>'");
    expect(table.stale).toBe(true);
    expect(table.rejectedFilter).toBe('metrics.acc >');
    expect(table.filter).toBe('metrics.acc > 0.5'); // the rows shown are still this filter's
    expect(table.text(0, { id: 'name', label: 'name', sort: 'name' })).toBe('run0');
    // a good filter then clears it
    await table.setFilter('params.n == 1');
    expect(table.stale).toBe(false);
    expect(table.error).toBeNull();
  });

  it('sends the search, and the brushes with the filter', async () => {
    api.fetchTable.mockImplementation(tableRoute(10));
    const table = new TableModel('churn');
    await table.open();
    await table.setQuery(' fit( ');
    await table.setFilter('params.n == 1');
    await table.setBrush({ column: 'params.lr', low: 0.01, high: 0.1 });
    expect(lastTable()).toMatchObject({
      q: 'fit(',
      filter: '(params.n == 1) and (params.lr >= 0.01 and params.lr <= 0.1)'
    });
    await table.setBrush(null, 'params.lr');
    expect(lastTable().filter).toBe('params.n == 1');
  });

  it('drops an answer that arrives after a newer query', async () => {
    let release: (page: ITablePage) => void = () => undefined;
    api.fetchTable.mockImplementation(tableRoute(10));
    const table = new TableModel('churn');
    await table.open();
    api.fetchTable.mockImplementationOnce(() => new Promise(resolve => (release = resolve)));
    const slow = table.setFilter('params.n == 1');
    await table.setFilter('params.n == 2');
    release({ total: 99, offset: 0, limit: 100, columns: COLUMNS, rows: [] });
    await slow;
    expect(table.filter).toBe('params.n == 2');
    expect(table.total).toBe(10);
  });
});

describe('column choices', () => {
  it('orders fields, params, metrics, tags by default, and the user order first', () => {
    expect(orderColumns(COLUMNS, []).map(c => c.name)).toEqual([
      'status', 'name', 'start', 'params.n', 'params.fixed', 'metrics.acc', 'tags.t'
    ]);
    expect(orderColumns(COLUMNS, ['metrics.acc', 'name']).map(c => c.name).slice(0, 3)).toEqual([
      'metrics.acc', 'name', 'status'
    ]);
    expect(moveColumn(['a', 'b', 'c'], 'c', -1)).toEqual(['a', 'c', 'b']);
    expect(moveColumn(['a', 'b', 'c'], 'a', -1)).toEqual(['a', 'b', 'c']);
  });

  it('moves a shown column past the hidden ones beside it: one click moves it in the grid', async () => {
    api.fetchTable.mockImplementation(tableRoute(10));
    const table = new TableModel('churn');
    await table.open();
    await table.setHidden('params.fixed', true);
    expect(table.shown.map(c => c.name)).toEqual(['status', 'name', 'start', 'params.n', 'metrics.acc', 'tags.t']);
    table.moveColumn('metrics.acc', -1); // past the hidden params.fixed and params.n
    expect(table.shown.map(c => c.name)).toEqual(['status', 'name', 'start', 'metrics.acc', 'params.n', 'tags.t']);
  });

  it('hides the columns that do not vary, but never the name', () => {
    const shown = shownColumns(COLUMNS, { ...readChoices({}), hideConstant: true }).map(c => c.name);
    expect(shown).toEqual(['name', 'start', 'params.n', 'metrics.acc']);
  });

  it('saves the choices per experiment and reads them back in a new table', async () => {
    api.fetchTable.mockImplementation(tableRoute(10));
    const store = memoryStore();
    const table = new TableModel('churn', { store });
    await table.open();
    await table.setHidden('params.n', true);
    table.moveColumn('metrics.acc', -1);
    await table.setHideConstant(true);
    await table.sortBy('metrics.acc');
    expect(store.saved.get('jupyter-tracker:table:churn')).toMatchObject({
      hidden: ['params.n'],
      hideConstant: true,
      sort: 'metrics.acc',
      direction: 'desc'
    });
    const again = new TableModel('churn', { store });
    await again.open();
    expect(again.choices).toEqual(table.choices);
    expect(again.shown.map(c => c.name)).toEqual(['name', 'start', 'metrics.acc']);
    expect(lastTable()).toMatchObject({ sort: 'metrics.acc', order: 'desc' });
    // another experiment has its own
    expect(choicesKey(null)).toBe('jupyter-tracker:table:*');
    const other = new TableModel('other', { store });
    await other.open();
    expect(other.choices.hidden).toEqual([]);
  });

  it('reads malformed saved choices as the defaults', () => {
    expect(readChoices({ order: 'x', hidden: [1, 'a'], sort: 3, direction: 'up' })).toEqual({
      order: [], hidden: ['a'], hideConstant: false, sort: 'start', direction: 'desc'
    });
  });

  it('fetches the rows again when a column shown is not in them', async () => {
    api.fetchTable.mockImplementation(tableRoute(1000));
    const table = new TableModel('churn');
    await table.open();
    await table.setHidden('params.n', true);
    let calls = api.fetchTable.mock.calls.length;
    expect(calls).toBe(1); // hiding needs no request
    table.setViewport(300, 320); // a page fetched while it is hidden: without it
    await settle();
    expect(lastTable().columns).not.toContain('params.n');
    calls = api.fetchTable.mock.calls.length;
    await table.setHidden('params.n', false);
    expect(api.fetchTable.mock.calls.length).toBe(calls + 1);
    expect(lastTable().columns).toBeUndefined(); // every column shown again: all of them
  });
});

describe('selection', () => {
  it('selects one row on click, adds with ctrl, ranges with shift', async () => {
    api.fetchTable.mockImplementation(tableRoute(10));
    const table = new TableModel('churn');
    await table.open();
    table.select(2);
    expect([...table.selection.keys()]).toEqual(['id000002']);
    table.select(5, { toggle: true });
    expect(table.selection.size).toBe(2);
    table.select(5, { toggle: true });
    expect(table.selection.size).toBe(1);
    table.select(2);
    table.select(6, { range: true });
    expect([...table.selection.keys()]).toEqual(['id000002', 'id000003', 'id000004', 'id000005', 'id000006']);
    expect(table.selection.get('id000004')).toBe('run4');
    table.clearSelection();
    expect(table.selection.size).toBe(0);
  });
});

describe('grouping', () => {
  it('shows one row per group with the statistics of the metrics shown', async () => {
    api.fetchTable.mockImplementation(tableRoute(10));
    api.fetchGroups.mockResolvedValue({
      total: 2,
      by: ['params.n', 'params.model'],
      metrics: ['acc'],
      groups: [
        { key: { 'params.n': 1, 'params.model': 'rf' }, runs: 3, metrics: { acc: { mean: 0.8, std: 0.01, min: 0.79, max: 'Infinity', count: 3 } } },
        { key: { 'params.n': null, 'params.model': 'x' }, runs: 1, metrics: {} }
      ]
    });
    const table = new TableModel('churn');
    await table.open();
    await table.setFilter('metrics.acc > 0');
    await table.setGroupBy(['params.n', 'params.model']);
    const query = api.fetchGroups.mock.calls[0][0] as IGroupsQuery;
    expect(query).toMatchObject({ by: ['params.n', 'params.model'], experiment: 'churn', filter: 'metrics.acc > 0', metrics: ['acc'] });
    expect(table.total).toBe(2);
    const columns = table.gridColumns;
    expect(columns.map(c => c.label)).toEqual([
      'params.n', 'params.model', 'runs', 'acc mean', 'acc std', 'acc min', 'acc max', 'acc count'
    ]);
    expect(columns.map(c => table.text(0, c))).toEqual(['1', 'rf', '3', '0.8', '0.01', '0.79', '∞', '3']);
    expect(table.text(1, columns[0])).toBe('— (missing)');
    expect(table.text(1, columns[3])).toBe('—');
    await table.setGroupBy([]);
    expect(table.gridColumns[0].id).toBe('status');
  });

  it('builds the filter of a group: escaped strings, missing keys', () => {
    expect(groupFilter({ 'params.a': 1, 'params.b': 'x' })).toBe('params.a == 1 and params.b == "x"');
    expect(groupFilter({ 'params.a': null })).toBe('params.a is missing');
    expect(groupFilter({ 'params.s': 'say "hi" \\ bye' })).toBe('params.s == "say \\"hi\\" \\\\ bye"');
    expect(groupFilter({ 'params.max depth': 3 })).toBe('params.`max depth` == 3');
    expect(literal('a\nb\u0001')).toBe('"a\\nb\u0001"'); // the filter language's escapes, not JSON's \u
    expect(literal(true)).toBe('true');
    expect(literal(0.1)).toBe('0.1');
    expect(allOf(['', 'a == 1', '  '])).toBe('a == 1');
    expect(allOf(['a == 1 or b == 2', 'c == 3'])).toBe('(a == 1 or b == 2) and (c == 3)');
  });

  it('builds the filter of a brush', () => {
    expect(brushFilter({ column: 'params.lr', low: 0.01, high: 0.1 })).toBe('params.lr >= 0.01 and params.lr <= 0.1');
    expect(brushFilter({ column: 'params.model', values: ['rf', null] })).toBe(
      'params.model == "rf" or params.model is missing'
    );
  });
});

describe('cells', () => {
  it('shows NaN and infinities, missing values and long values cut', () => {
    expect(cellText('metrics.acc', 'NaN')).toBe('NaN');
    expect(cellText('metrics.acc', '-Infinity')).toBe('−∞');
    expect(cellText('metrics.acc', undefined)).toBe('—');
    expect(cellText('duration', 1.5)).toBe('1.5 s');
    expect(cellText('params.html', '<img src=x onerror=alert(1)>')).toBe('<img src=x onerror=alert(1)>');
    expect(cellText('params.long', 'x'.repeat(500))).toHaveLength(200);
  });
});

describe('charts', () => {
  it('computes the mean, min and max per step over runs, leaving NaN and ±∞ out', () => {
    const stats = stepStats([
      { steps: [0, 1, 2], values: [1, 2, 3] },
      { steps: [0, 1, 2], values: [3, NaN, 5] },
      { steps: [null, null], values: [2, Infinity] } // steps by position
    ]);
    expect(stats).toEqual([
      { step: 0, mean: 2, min: 1, max: 3, count: 3 },
      { step: 1, mean: 2, min: 2, max: 2, count: 1 },
      { step: 2, mean: 4, min: 3, max: 5, count: 2 }
    ]);
    expect(stepStats([])).toEqual([]);
  });

  it('makes round ticks', () => {
    expect(ticks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(ticks(0.013, 0.097, 4)).toEqual([0.02, 0.04, 0.06, 0.08]);
    expect(ticks(3, 3)).toEqual([3]);
    expect(ticks(NaN, 1)).toEqual([]);
  });

  it('fetches at most 5,000 rows for the charts, 1,000 a request', async () => {
    api.fetchTable.mockImplementation(tableRoute(12_345));
    const table = new TableModel('churn');
    await table.open();
    api.fetchTable.mockClear();
    const data = await table.chartRows(['metrics.acc', 'params.n']);
    expect(data.total).toBe(12_345);
    expect(data.rows).toHaveLength(5000);
    expect(api.fetchTable.mock.calls.map(c => [c[0].offset, c[0].limit])).toEqual([
      [0, 1000], [1000, 1000], [2000, 1000], [3000, 1000], [4000, 1000]
    ]);
    expect(api.fetchTable.mock.calls[0][0].columns).toEqual(['name', 'metrics.acc', 'params.n']);
  });
});

describe('live through the one poll', () => {
  const NOW = 1_800_000_000;
  function status(overrides: Partial<IStatus> = {}): IStatus {
    return {
      version: '0.1.0', store_path: '/tmp/t.db', store_exists: true, schema_version: 3, runs: 2, running: 0,
      last_start: NOW - 60, last_end: NOW - 50, rerun: true, ...overrides
    };
  }

  beforeEach(() => jest.useFakeTimers({ now: NOW * 1000 }));
  afterEach(() => jest.useRealTimers());

  it('refreshes a watched table when the store changed, not at every tick, and stops when unwatched', async () => {
    api.fetchStatus.mockResolvedValue(status());
    api.fetchTable.mockImplementation(tableRoute(2));
    const tracker = new TrackerModel();
    const table = new TableModel('churn');
    await table.open();
    const view = { refresh: jest.fn((changed: boolean) => table.refresh(changed)) };
    const unwatch = tracker.watchView(view);
    await jest.advanceTimersByTimeAsync(100);
    await jest.advanceTimersByTimeAsync(4100);
    expect(view.refresh).not.toHaveBeenCalled(); // the first stamp is what the table loaded; nothing changed since
    expect(view.refresh).not.toHaveBeenCalled(); // nothing changed
    // a run is recorded: the next tick refreshes the table, which then has 3 runs
    api.fetchStatus.mockResolvedValue(status({ runs: 3, last_start: NOW }));
    api.fetchTable.mockImplementation(tableRoute(3));
    await jest.advanceTimersByTimeAsync(2100);
    expect(view.refresh).toHaveBeenCalledWith(true);
    expect(table.total).toBe(3);
    // runs running: refreshed at every tick (their metrics move), as "not a store change"
    view.refresh.mockClear();
    api.fetchStatus.mockResolvedValue(status({ runs: 3, last_start: NOW, running: 1 }));
    await jest.advanceTimersByTimeAsync(2100);
    view.refresh.mockClear();
    await jest.advanceTimersByTimeAsync(2100);
    expect(view.refresh).toHaveBeenCalledWith(false);
    unwatch();
    view.refresh.mockClear();
    api.fetchStatus.mockResolvedValue(status({ runs: 4, last_start: NOW + 1 }));
    await jest.advanceTimersByTimeAsync(6000);
    expect(view.refresh).not.toHaveBeenCalled();
    tracker.dispose();
  });
});
