/**
 * TrackerModel against a mocked request.ts (the only module mocked: it is the only one that
 * talks to the server). The model's Poll runs on Jest's fake timers.
 */
import { TrackerModel } from '../model';
import * as request from '../request';
import { IJob, IMetricSeries, IRun, IRunDetail, IRunSummary, IStatus, IVerdict } from '../request';

jest.mock('../request', () => ({
  fetchStatus: jest.fn(),
  fetchExperiments: jest.fn(),
  fetchColumns: jest.fn(),
  fetchRuns: jest.fn(),
  fetchRun: jest.fn(),
  fetchMetricSeries: jest.fn(),
  fetchComparison: jest.fn(),
  startRerun: jest.fn(),
  fetchJob: jest.fn(),
  // The real one reads ServerConnection.ResponseError's response; the fakes below carry the status.
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

const NOW = 1_800_000_000; // epoch seconds of the fake clock

function status(overrides: Partial<IStatus> = {}): IStatus {
  return {
    version: '0.1.0',
    store_path: '/tmp/tracker.db',
    store_exists: true,
    schema_version: 3,
    runs: 2,
    running: 0,
    last_start: NOW - 60,
    last_end: NOW - 50,
    rerun: true,
    ...overrides
  };
}

function summary(runId: string, overrides: Partial<IRunSummary> = {}): IRunSummary {
  return {
    run_id: runId,
    experiment: 'churn',
    name: 'train',
    status: 'finished',
    start: NOW - 60,
    duration: 10,
    params: { n_estimators: 100 },
    metrics: { acc: 0.81 },
    tags: {},
    rerun_of: null,
    hidden_state: null,
    ...overrides
  };
}

function run(runId: string, overrides: Partial<IRun> = {}): IRunDetail {
  return {
    run: {
      run_id: runId,
      experiment: 'churn',
      name: 'train',
      status: 'finished',
      start: NOW - 60,
      end: NOW - 50,
      duration: 10,
      source: 'cell',
      params: {},
      tags: {},
      seeds: [],
      metrics: { loss: 0.4, acc: 0.8 },
      metric_steps: { loss: 3, acc: 1 },
      inputs: [],
      outputs: [],
      code: '',
      history: [],
      environment: {},
      error: null,
      warnings: [],
      ...overrides
    },
    previous_run_id: null,
    changed_inputs: {}
  };
}

function series(runId: string, name: string, points: number): IMetricSeries {
  return {
    run_id: runId,
    name,
    step: Array.from({ length: points }, (_, i) => i),
    value: Array.from({ length: points }, (_, i) => 1 / (i + 1))
  };
}

function job(overrides: Partial<IJob> = {}): IJob {
  return {
    job_id: 'job1',
    kind: 'rerun',
    run_id: 'aaaa1111',
    state: 'queued',
    created: NOW,
    started: null,
    ended: null,
    elapsed: 0,
    done: 0,
    total: 1,
    result: null,
    error: null,
    ...overrides
  };
}

const VERDICT: IVerdict = {
  status: 'REPRODUCED',
  exit_code: 0,
  original: 'aaaa1111',
  name: 'train',
  rtol: 1e-9,
  atol: 1e-12,
  replay: null,
  attempts: [
    {
      status: 'REPRODUCED',
      run_id: 'bbbb2222',
      output: null,
      seconds: 3.2,
      error: null,
      differences: [],
      metrics: [{ name: 'acc', original: 0.8, new: 0.8, abs_diff: 0, rel_diff: 0, agrees: true }]
    }
  ]
};

/** Let the poll's timers run for `ms` (fake time), resolving the mocked requests on the way. */
async function elapse(ms = 0): Promise<void> {
  await jest.advanceTimersByTimeAsync(ms);
}

let model: TrackerModel;

beforeEach(() => {
  jest.useFakeTimers({ now: NOW * 1000 });
  jest.resetAllMocks();
  api.fetchStatus.mockResolvedValue(status());
  api.fetchExperiments.mockResolvedValue({ experiments: [{ name: 'churn', runs: 2, last_start: NOW - 60 }] });
  api.fetchColumns.mockResolvedValue({ metrics: ['acc'], params: ['n_estimators'], tags: [] });
  api.fetchRuns.mockResolvedValue({
    total: 2,
    offset: 0,
    limit: 50,
    runs: [summary('aaaa1111'), summary('bbbb2222')]
  });
  model = new TrackerModel();
});

afterEach(() => {
  model.dispose();
  jest.useRealTimers();
});

describe('the runs list', () => {
  it('loads the experiments and their first page of runs when the sidebar is shown', async () => {
    model.activate();
    await elapse();
    expect(model.loaded).toBe(true);
    expect(model.notice).toBeNull();
    expect(model.groups.map(g => [g.name, g.total, g.runs.length, g.expanded])).toEqual([['churn', 2, 2, true]]);
    expect(model.columns.metrics).toEqual(['acc']);
    expect(api.fetchRuns).toHaveBeenCalledWith(
      expect.objectContaining({ experiment: 'churn', sort: 'start', order: 'desc', offset: 0, limit: 50 })
    );
  });

  it('shows why when the runs cannot be loaded, instead of loading forever', async () => {
    api.fetchRuns.mockRejectedValue(new HttpError(500, 'database is locked'));
    model.activate();
    await elapse();
    expect(model.notice).toBe('database is locked');
    expect(model.loaded).toBe(false);
    // and it loads at the next tick once the server answers again
    api.fetchRuns.mockResolvedValue({ total: 1, offset: 0, limit: 50, runs: [summary('aaaa1111')] });
    await elapse(2000);
    expect(model.notice).toBeNull();
    expect(model.loaded).toBe(true);
    expect(model.groups[0].runs).toHaveLength(1);
  });

  it('says the server extension is missing on a 404 from the status handshake', async () => {
    api.fetchStatus.mockRejectedValue(new HttpError(404, 'Not Found'));
    model.activate();
    await elapse();
    expect(model.notice).toMatch(/server extension is not installed/);
    expect(model.loaded).toBe(false);
  });

  it('says the tracker cannot be reached, and clears it when the server is back', async () => {
    model.activate();
    await elapse();
    api.fetchStatus.mockRejectedValueOnce(new TypeError('Failed to fetch'));
    await elapse(2000);
    expect(model.notice).toBe('Cannot reach the tracker: Failed to fetch');
    await elapse(30_000); // the poll backs off after a failure
    expect(model.notice).toBeNull();
    expect(model.groups).toHaveLength(1);
  });

  it('reloads the list only when the store changed, and tells open views', async () => {
    const changes: IStatus[] = [];
    model.storeChanged.connect((_, s) => changes.push(s));
    model.activate();
    await elapse();
    await elapse(2000);
    expect(api.fetchExperiments).toHaveBeenCalledTimes(1);
    expect(changes).toHaveLength(0);
    api.fetchStatus.mockResolvedValue(status({ runs: 3, last_start: NOW }));
    await elapse(2000);
    expect(api.fetchExperiments).toHaveBeenCalledTimes(2);
    expect(changes.map(s => s.runs)).toEqual([3]);
  });

  it('reloads the list at every tick while a run is running (its metrics and elapsed time move)', async () => {
    api.fetchStatus.mockResolvedValue(status({ running: 1 }));
    model.activate();
    await elapse();
    await elapse(2000);
    await elapse(2000);
    expect(api.fetchExperiments).toHaveBeenCalledTimes(3);
  });

  it('stands by while the sidebar is hidden and nothing else is shown', async () => {
    model.activate();
    await elapse();
    model.deactivate();
    const calls = api.fetchStatus.mock.calls.length;
    await elapse(10_000);
    expect(api.fetchStatus).toHaveBeenCalledTimes(calls);
  });

  it('shows an empty store as loaded with no groups', async () => {
    api.fetchStatus.mockResolvedValue(status({ store_exists: false, runs: undefined }));
    model.activate();
    await elapse();
    expect(model.loaded).toBe(true);
    expect(model.groups).toEqual([]);
    expect(api.fetchExperiments).not.toHaveBeenCalled();
  });

  it('sorts names A to Z and numbers largest first by default, and can reverse', async () => {
    model.activate();
    await elapse();
    model.setSort('name');
    expect(model.order).toBe('asc');
    model.setSort('metrics.acc');
    expect(model.order).toBe('desc');
    model.toggleOrder();
    expect([model.sort, model.order]).toEqual(['metrics.acc', 'asc']);
    await elapse();
    expect(api.fetchRuns).toHaveBeenLastCalledWith(expect.objectContaining({ sort: 'metrics.acc', order: 'asc' }));
  });

  it('sends the search to the server and starts each group over', async () => {
    model.activate();
    await elapse();
    model.setQuery('gbm');
    await elapse();
    expect(model.query).toBe('gbm');
    expect(api.fetchExperiments).toHaveBeenLastCalledWith('gbm');
    expect(api.fetchRuns).toHaveBeenLastCalledWith(expect.objectContaining({ q: 'gbm', offset: 0 }));
  });

  it('shows a failed search alone, not beside the previous search\'s rows', async () => {
    model.activate();
    await elapse();
    expect(model.groups[0].runs).toHaveLength(2);
    api.fetchExperiments.mockRejectedValue(new HttpError(400, 'q must be at most 20 words, not 1,000'));
    model.setQuery('w '.repeat(1000));
    await elapse();
    expect(model.notice).toBe('q must be at most 20 words, not 1,000');
    expect(model.groups).toEqual([]);
  });

  it('keeps the rows shown when a poll fails (the next tick tries again)', async () => {
    model.activate();
    await elapse();
    api.fetchExperiments.mockRejectedValue(new HttpError(503, 'database is locked'));
    await model.refresh();
    expect(model.notice).toBe('database is locked');
    expect(model.groups[0].runs).toHaveLength(2);
  });

  it('loads the next page of a group, and shows a failed page in the group', async () => {
    api.fetchExperiments.mockResolvedValue({ experiments: [{ name: 'churn', runs: 120, last_start: NOW }] });
    api.fetchRuns.mockResolvedValue({ total: 120, offset: 0, limit: 50, runs: [summary('a')] });
    model.activate();
    await elapse();
    api.fetchRuns.mockResolvedValueOnce({ total: 120, offset: 1, limit: 50, runs: [summary('b'), summary('c')] });
    await model.loadMore('churn');
    expect(model.groups[0].runs.map(r => r.run_id)).toEqual(['a', 'b', 'c']);
    expect(api.fetchRuns).toHaveBeenLastCalledWith(expect.objectContaining({ offset: 1, limit: 50 }));
    api.fetchRuns.mockRejectedValueOnce(new HttpError(500, 'boom'));
    await model.loadMore('churn');
    expect(model.groups[0].error).toBe('boom');
    expect(model.groups[0].loading).toBe(false);
  });

  it('keeps a group opened while a refresh was on its way open, and loads its rows', async () => {
    const experiments = ['a', 'b', 'c', 'churn'].map(name => ({ name, runs: 1, last_start: NOW }));
    api.fetchExperiments.mockResolvedValue({ experiments });
    model.activate();
    await elapse();
    expect(model.groups.find(g => g.name === 'churn')!.expanded).toBe(false); // 4 experiments: only the first opens
    // Given a new sort whose experiments arrived but whose rows have not
    let rows: (page: request.IRunsPage) => void = () => undefined;
    api.fetchRuns.mockImplementationOnce(() => new Promise(resolve => (rows = resolve)));
    model.setSort('name');
    await elapse();
    // When the user opens churn meanwhile
    model.toggleGroup('churn');
    rows({ total: 1, offset: 0, limit: 50, runs: [summary('a1')] });
    await elapse();
    // Then churn stays open once the refresh lands, with its rows
    const churn = model.groups.find(g => g.name === 'churn')!;
    expect(churn.expanded).toBe(true);
    expect(churn.runs.map(r => r.run_id)).toEqual(['aaaa1111', 'bbbb2222']);
  });

  it('selects runs to compare', async () => {
    model.activate();
    await elapse();
    const [first, second] = model.groups[0].runs;
    model.toggleSelected(first);
    model.toggleSelected(second);
    model.toggleSelected(first);
    expect(model.selected.map(r => r.run_id)).toEqual(['bbbb2222']);
    expect(model.isSelected('bbbb2222')).toBe(true);
    model.clearSelection();
    expect(model.selected).toEqual([]);
  });
});

describe('a run shown in the main area', () => {
  it('is loaded with the step series of its metrics that have several points', async () => {
    api.fetchRun.mockResolvedValue(run('aaaa1111'));
    api.fetchMetricSeries.mockImplementation(async (runId, name) => series(runId, name, 3));
    const changed: string[] = [];
    model.runChanged.connect((_, runId) => changed.push(runId));
    model.watchRun('aaaa1111');
    await elapse();
    const view = model.runView('aaaa1111')!;
    expect(view.detail!.run.status).toBe('finished');
    expect(Object.keys(view.series)).toEqual(['loss']); // acc has one point: no chart
    expect(view.series.loss.step).toEqual([0, 1, 2]);
    expect(changed).toContain('aaaa1111');
    expect(api.fetchMetricSeries).toHaveBeenCalledTimes(1);
  });

  it('shows why it cannot be loaded, instead of loading forever', async () => {
    api.fetchRun.mockRejectedValue(new HttpError(404, "no run matches 'zzzz'"));
    model.watchRun('zzzz');
    await elapse();
    expect(model.runView('zzzz')).toEqual(expect.objectContaining({ detail: null, error: "no run matches 'zzzz'" }));
    await elapse(10_000);
    expect(api.fetchRun).toHaveBeenCalledTimes(1); // a 404 is not asked again at every tick
  });

  it('is asked again at the next tick after a failure other than 404', async () => {
    api.fetchRun.mockRejectedValueOnce(new HttpError(500, 'database is locked'));
    api.fetchRun.mockResolvedValue(run('aaaa1111'));
    api.fetchMetricSeries.mockImplementation(async (runId, name) => series(runId, name, 3));
    const errors: (string | null)[] = [];
    model.runChanged.connect((_, runId) => errors.push(model.runView(runId)!.error));
    model.watchRun('aaaa1111');
    await elapse(1000);
    expect(errors).toEqual(['database is locked', null]);
    expect(model.runView('aaaa1111')!.detail!.run.run_id).toBe('aaaa1111');
  });

  it('keeps the detail and names the series that failed to load', async () => {
    api.fetchRun.mockResolvedValue(run('aaaa1111'));
    api.fetchMetricSeries.mockRejectedValue(new HttpError(500, 'disk I/O error'));
    model.watchRun('aaaa1111');
    await elapse();
    const view = model.runView('aaaa1111')!;
    expect(view.detail).not.toBeNull();
    expect(view.seriesErrors).toEqual({ loss: 'disk I/O error' });
  });

  it('updates while it runs, through the one poll, and stops once it ended', async () => {
    // Given a running run whose loss gains points as the poll ticks
    let points = 2;
    let state = 'running';
    api.fetchStatus.mockResolvedValue(status({ running: 1 }));
    api.fetchRun.mockImplementation(async runId =>
      run(runId, { status: state, end: null, duration: state === 'running' ? null : 9, metric_steps: { loss: points } })
    );
    api.fetchMetricSeries.mockImplementation(async (runId, name) => series(runId, name, points));
    // When its detail is shown (the sidebar is hidden)
    model.watchRun('aaaa1111');
    await elapse();
    expect(model.runView('aaaa1111')!.series.loss.step).toHaveLength(2);
    // Then each tick of the poll (a second apart while something is live) brings the new points
    points = 4;
    await elapse(1000);
    expect(model.runView('aaaa1111')!.series.loss.step).toHaveLength(4);
    points = 6;
    await elapse(1000);
    expect(model.runView('aaaa1111')!.series.loss.step).toHaveLength(6);
    // and the run turns finished by itself, after which it is not asked for again
    state = 'finished';
    await elapse(1000);
    expect(model.runView('aaaa1111')!.detail!.run.status).toBe('finished');
    const calls = api.fetchRun.mock.calls.length;
    await elapse(10_000);
    expect(api.fetchRun).toHaveBeenCalledTimes(calls);
  });

  it('is not reloaded once its view is hidden', async () => {
    api.fetchRun.mockResolvedValue(run('aaaa1111', { status: 'running', end: null, duration: null }));
    api.fetchMetricSeries.mockImplementation(async (runId, name) => series(runId, name, 3));
    model.watchRun('aaaa1111');
    await elapse();
    await elapse(1000);
    const calls = api.fetchRun.mock.calls.length;
    expect(calls).toBeGreaterThanOrEqual(2);
    model.unwatchRun('aaaa1111');
    await elapse(10_000);
    expect(api.fetchRun).toHaveBeenCalledTimes(calls);
    expect(model.runView('aaaa1111')!.detail).not.toBeNull(); // kept for when it is shown again
  });

  it('asks for a run once at a time, however many views show it', async () => {
    let answer: (detail: IRunDetail) => void = () => undefined;
    api.fetchRun.mockImplementation(() => new Promise(resolve => (answer = resolve)));
    api.fetchMetricSeries.mockImplementation(async (runId, name) => series(runId, name, 3));
    model.watchRun('aaaa1111');
    model.watchRun('aaaa1111');
    await elapse();
    expect(api.fetchRun).toHaveBeenCalledTimes(1);
    answer(run('aaaa1111'));
    await elapse();
    expect(model.runView('aaaa1111')!.detail).not.toBeNull();
  });
});

describe('a rerun', () => {
  it('is followed by the poll until its verdict arrives', async () => {
    api.startRerun.mockResolvedValue(job());
    api.fetchJob
      .mockResolvedValueOnce(job({ state: 'running', started: NOW, elapsed: 1 }))
      .mockResolvedValueOnce(job({ state: 'finished', started: NOW, ended: NOW + 3, elapsed: 3, done: 1, result: VERDICT }));
    const changed: string[] = [];
    model.rerunChanged.connect((_, runId) => changed.push(runId));
    await model.startRerun('aaaa1111', { repeat: 1 });
    expect(api.startRerun).toHaveBeenCalledWith('aaaa1111', { repeat: 1 });
    expect(model.rerunState('aaaa1111').job!.state).toBe('queued');
    await elapse();
    expect(model.rerunState('aaaa1111').job!.state).toBe('running');
    await elapse(1000);
    const { job: done } = model.rerunState('aaaa1111');
    expect(done!.state).toBe('finished');
    expect(done!.result!.attempts[0].run_id).toBe('bbbb2222');
    await elapse(10_000);
    expect(api.fetchJob).toHaveBeenCalledTimes(2); // not followed once it ended
    expect(changed.every(id => id === 'aaaa1111')).toBe(true);
  });

  it('says why it could not start', async () => {
    api.startRerun.mockRejectedValue(new HttpError(400, 'repeat must be a whole number from 1 to 20, not 0'));
    await model.startRerun('aaaa1111', { repeat: 0 });
    expect(model.rerunState('aaaa1111')).toEqual({
      job: null,
      error: 'repeat must be a whole number from 1 to 20, not 0'
    });
  });

  it('says so when the server forgot the job', async () => {
    api.startRerun.mockResolvedValue(job());
    api.fetchJob.mockRejectedValue(new HttpError(404, "no job 'job1'"));
    await model.startRerun('aaaa1111');
    await elapse();
    expect(model.rerunState('aaaa1111')).toEqual({ job: null, error: "no job 'job1'" });
  });

  it('of a run never started has no state', () => {
    expect(model.rerunState('cccc3333')).toEqual({ job: null, error: null });
  });
});
