/**
 * The sidebar's state: experiments, their loaded pages of runs, the search and sort, the
 * selection, the run details shown and the rerun jobs; and the one Poll that keeps them all
 * current (new or finished runs, a running run's metrics, a rerun's progress). Views read
 * from here and listen to its signals; none of them runs a timer of its own (issue 11).
 */
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import {
  errorStatus,
  fetchColumns,
  fetchExperiments,
  fetchJob,
  fetchMetricSeries,
  fetchRun,
  fetchRuns,
  fetchStatus,
  IColumns,
  IJob,
  IMetricSeries,
  IRerunOptions,
  IRunDetail,
  IRunSummary,
  IStatus,
  startRerun
} from './request';

export const PAGE_SIZE = 50;
/** Runs one comparison may hold: the server's limit too (jupyter_tracker/errors.py MAX_COMPARED). */
export const MAX_COMPARED = 50;
const MAX_REFRESH = 1000; // a refresh reloads at most this many rows of a group (the API's page limit)
const POLL_INTERVAL = 2000; // ms: new runs show within a few seconds (issue 4)
// ms while something shown is live (a running run's detail, a rerun): its points are written
// about every 0.5 s (issue 12), so a second is close to what the store has.
const LIVE_INTERVAL = 1000;

export interface IGroup {
  name: string;
  total: number;
  runs: IRunSummary[];
  expanded: boolean;
  loading: boolean;
  error: string | null;
}

/** A run's detail as a view shows it: what the server sent last, and the step series drawn. */
export interface IRunView {
  detail: IRunDetail | null;
  /** The last request for the run failed (the detail, if any, is the one loaded before). */
  error: string | null;
  /** The step series of the metrics with more than one point, by metric name. */
  series: { [name: string]: IMetricSeries };
  seriesErrors: { [name: string]: string };
}

/** A run's rerun: the job as last polled, or why it could not be started or followed. */
export interface IRerunState {
  job: IJob | null;
  error: string | null;
}

/**
 * A view the poll keeps current besides the runs list and the run details: a runs table. At a
 * tick where the store's status stamp changed (a run started or ended), or while runs are
 * running (their metrics and durations move), the poll awaits its refresh; it runs no timer of
 * its own (issue 14).
 */
export interface ILiveView {
  /** `storeChanged`: runs started or ended since the last tick (not only running runs moving). */
  refresh(storeChanged: boolean): Promise<void>;
}

export function isActiveJob(job: IJob | null | undefined): boolean {
  return !!job && (job.state === 'queued' || job.state === 'running');
}

export class TrackerModel {
  constructor() {
    this._poll = new Poll({
      auto: false,
      factory: () => this._tick(),
      frequency: { interval: POLL_INTERVAL, backoff: true, max: 30 * 1000 },
      name: 'jupyter-tracker:runs',
      // Nothing shown needs it (sidebar hidden, no live detail, no rerun): stand by; and always
      // while the browser tab is hidden.
      standby: () => !(this._active || this._isLive() || this._views.size > 0) || 'when-hidden'
    });
  }

  /** Emitted whenever anything shown changes. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Emitted when the store changed (a run started or ended): open views may refresh. */
  get storeChanged(): ISignal<this, IStatus> {
    return this._storeChanged;
  }

  /** Emitted with a run id when that run's view (runView) changed. */
  get runChanged(): ISignal<this, string> {
    return this._runChanged;
  }

  /** Emitted with a run id when that run's rerun (rerunState) changed. */
  get rerunChanged(): ISignal<this, string> {
    return this._rerunChanged;
  }

  get status(): IStatus | null {
    return this._status;
  }

  /** A message for the whole panel: no extension, no store, a failed request. */
  get notice(): string | null {
    return this._notice;
  }

  get groups(): IGroup[] {
    return this._groups;
  }

  get columns(): IColumns {
    return this._columns;
  }

  get query(): string {
    return this._query;
  }

  get sort(): string {
    return this._sort;
  }

  get order(): 'asc' | 'desc' {
    return this._order;
  }

  get selected(): IRunSummary[] {
    return [...this._selected.values()];
  }

  get loaded(): boolean {
    return this._loaded;
  }

  isSelected(runId: string): boolean {
    return this._selected.has(runId);
  }

  /** The panel is shown: load now, then keep polling while it stays shown. */
  activate(): void {
    this._active = true;
    if (!this._poll.isDisposed) {
      void this._poll.start();
      void this._poll.refresh();
    }
  }

  deactivate(): void {
    this._active = false;
  }

  /** The run's detail as last loaded, or undefined before the first load. */
  runView(runId: string): IRunView | undefined {
    return this._runs.get(runId);
  }

  /**
   * A view shows this run: load it now, and while it runs reload it (and its step series) on
   * every tick of the poll, until it ends. Call unwatchRun when the view is hidden.
   */
  watchRun(runId: string): void {
    this._watched.set(runId, (this._watched.get(runId) ?? 0) + 1);
    void this._loadRun(runId);
    this._wake();
  }

  unwatchRun(runId: string): void {
    const count = (this._watched.get(runId) ?? 0) - 1;
    if (count > 0) {
      this._watched.set(runId, count);
    } else {
      this._watched.delete(runId);
    }
  }

  /**
   * A view (a runs table) is shown: the poll refreshes it when the store changes or runs are
   * running, until the returned function is called (the view hidden or closed).
   */
  watchView(view: ILiveView): () => void {
    if (this._views.size === 0) {
      // The view loads what is there now: only later changes refresh it.
      this._viewStamp = this._stamp === '' ? null : this._stamp;
    }
    this._views.add(view);
    if (!this._poll.isDisposed) {
      void this._poll.start(); // not the sidebar's refresh: the view loads itself when it opens
    }
    return () => {
      this._views.delete(view);
    };
  }

  rerunState(runId: string): IRerunState {
    return this._reruns.get(runId) ?? { job: null, error: null };
  }

  /** Start re-executing a run in the server; the poll follows the job until it ends. */
  async startRerun(runId: string, options: IRerunOptions = {}): Promise<void> {
    this._setRerun(runId, { job: null, error: null });
    try {
      this._setRerun(runId, { job: await startRerun(runId, options), error: null });
      this._wake();
    } catch (error) {
      this._setRerun(runId, { job: null, error: (error as Error).message });
    }
  }

  setQuery(query: string): void {
    if (query === this._query) {
      return;
    }
    this._query = query;
    this._changed.emit();
    void this.refresh(true);
  }

  setSort(sort: string, order?: 'asc' | 'desc'): void {
    this._sort = sort;
    // Names read best A to Z; times, metrics and params read best largest first.
    this._order = order ?? (sort === 'name' || sort === 'experiment' ? 'asc' : 'desc');
    this._changed.emit();
    void this.refresh(true);
  }

  toggleOrder(): void {
    this.setSort(this._sort, this._order === 'asc' ? 'desc' : 'asc');
  }

  toggleGroup(name: string): void {
    const group = this._groups.find(g => g.name === name);
    if (!group) {
      return;
    }
    group.expanded = !group.expanded;
    this._expanded.set(name, group.expanded);
    this._changed.emit();
    if (group.expanded && group.runs.length === 0) {
      void this.loadMore(name);
    }
  }

  toggleSelected(run: IRunSummary): void {
    if (this._selected.has(run.run_id)) {
      this._selected.delete(run.run_id);
    } else {
      this._selected.set(run.run_id, run);
    }
    this._changed.emit();
  }

  clearSelection(): void {
    this._selected.clear();
    this._changed.emit();
  }

  /** Load the next page of a group (scrolling reached its end, or "Load more"). */
  async loadMore(name: string): Promise<void> {
    const group = this._groups.find(g => g.name === name);
    if (!group || group.loading || (group.runs.length >= group.total && group.total > 0)) {
      return;
    }
    const generation = this._generation;
    group.loading = true;
    this._changed.emit();
    try {
      const page = await fetchRuns({
        ...this._runsQuery(name),
        limit: PAGE_SIZE,
        offset: group.runs.length
      });
      if (generation !== this._generation) {
        return; // a refresh replaced the groups meanwhile
      }
      group.runs = group.runs.concat(page.runs);
      group.total = page.total;
      group.error = null;
    } catch (error) {
      group.error = (error as Error).message;
    } finally {
      group.loading = false;
      this._changed.emit();
    }
  }

  /**
   * Reload experiments and the rows shown. `reset` (a new search or sort) starts each group
   * from its first page; otherwise (polling) the rows already loaded are reloaded in place.
   */
  async refresh(reset = false): Promise<void> {
    const generation = ++this._generation;
    try {
      const [{ experiments }, columns] = await Promise.all([
        fetchExperiments(this._query),
        fetchColumns()
      ]);
      if (generation !== this._generation) {
        return;
      }
      // Rows already shown are reloaded in place (polling); a new search or sort starts over.
      const shown = new Map(this._groups.map(g => [g.name, reset ? 0 : g.runs.length]));
      const groups: IGroup[] = experiments.map((experiment, index) => ({
        name: experiment.name,
        total: experiment.runs,
        runs: [],
        // The most recently active experiment opens by itself; all do when there are few.
        expanded: this._expanded.get(experiment.name) ?? (index === 0 || experiments.length <= 3),
        loading: false,
        error: null
      }));
      const pages = await Promise.all(
        groups.map(group =>
          group.expanded
            ? fetchRuns({
                ...this._runsQuery(group.name),
                limit: Math.min(MAX_REFRESH, Math.max(PAGE_SIZE, shown.get(group.name) ?? 0)),
                offset: 0
              })
            : Promise.resolve(null)
        )
      );
      if (generation !== this._generation) {
        return;
      }
      const unloaded: string[] = [];
      groups.forEach((group, index) => {
        const page = pages[index];
        if (page) {
          group.runs = page.runs;
          group.total = page.total;
        }
        // A group opened or closed while its rows were on their way keeps what the user chose.
        group.expanded = this._expanded.get(group.name) ?? group.expanded;
        if (group.expanded && !page) {
          unloaded.push(group.name);
        }
      });
      this._groups = groups;
      this._columns = columns;
      this._notice = null;
      this._loaded = true;
      unloaded.forEach(name => void this.loadMore(name));
    } catch (error) {
      if (generation === this._generation) {
        this._notice = (error as Error).message;
        this._listStamp = ''; // try again at the next tick
        if (reset) {
          // A search or sort that failed (a 400 for a search too long): its notice must not stand
          // beside the previous search's rows, as if they were its results.
          this._groups = [];
        }
      }
    }
    this._changed.emit();
  }

  dispose(): void {
    this._poll.dispose();
    Signal.clearData(this);
  }

  /** Something live started: poll faster, and now. */
  private _wake(): void {
    if (this._poll.isDisposed) {
      return;
    }
    this._setFrequency();
    void this._poll.start();
    void this._poll.refresh();
  }

  /** A shown run that is (or may be) still running, or a rerun in progress. */
  private _isLive(): boolean {
    return this._liveRuns().length > 0 || this._activeReruns().length > 0;
  }

  private _liveRuns(): string[] {
    return [...this._watched.keys()].filter(runId => {
      if (this._gone.has(runId)) {
        return false;
      }
      const view = this._runs.get(runId);
      return !view || !view.detail || view.error !== null || view.detail.run.status === 'running';
    });
  }

  private _activeReruns(): [string, IJob][] {
    return [...this._reruns.entries()]
      .filter(([, state]) => isActiveJob(state.job))
      .map(([runId, state]) => [runId, state.job!]);
  }

  private _setFrequency(): void {
    const interval = this._isLive() ? LIVE_INTERVAL : POLL_INTERVAL;
    if (this._poll.frequency.interval !== interval) {
      this._poll.frequency = { ...this._poll.frequency, interval };
    }
  }

  private _setRerun(runId: string, state: IRerunState): void {
    this._reruns.set(runId, state);
    this._rerunChanged.emit(runId);
  }

  /** Load a run and the step series of its metrics that have more than one point. */
  private async _loadRun(runId: string): Promise<void> {
    const loading = this._loading.get(runId);
    if (loading) {
      return loading; // one request per run at a time: a slow answer is not asked for twice
    }
    const promise = this._fetchRun(runId).finally(() => this._loading.delete(runId));
    this._loading.set(runId, promise);
    return promise;
  }

  private async _fetchRun(runId: string): Promise<void> {
    const view: IRunView = this._runs.get(runId) ?? {
      detail: null,
      error: null,
      series: {},
      seriesErrors: {}
    };
    let detail: IRunDetail;
    try {
      detail = await fetchRun(runId);
      this._gone.delete(runId);
    } catch (error) {
      if (errorStatus(error) === 404) {
        this._gone.add(runId); // deleted, or never there: asking again will not bring it back
      }
      this._runs.set(runId, { ...view, error: (error as Error).message });
      this._runChanged.emit(runId);
      return;
    }
    const names = Object.entries(detail.run.metric_steps)
      .filter(([, points]) => points > 1)
      .map(([name]) => name);
    const answers = await Promise.all(
      names.map(name =>
        fetchMetricSeries(runId, name).then(
          series => ({ name, series, error: null }),
          error => ({ name, series: null, error: (error as Error).message })
        )
      )
    );
    const series: { [name: string]: IMetricSeries } = {};
    const seriesErrors: { [name: string]: string } = {};
    for (const answer of answers) {
      if (answer.series) {
        series[answer.name] = answer.series;
      } else {
        seriesErrors[answer.name] = answer.error!;
        if (view.series[answer.name]) {
          series[answer.name] = view.series[answer.name]; // keep drawing what was loaded
        }
      }
    }
    this._runs.set(runId, { detail, error: null, series, seriesErrors });
    this._runChanged.emit(runId);
  }

  private async _pollJob(runId: string, job: IJob): Promise<void> {
    try {
      const next = await fetchJob(job.job_id);
      if (this._reruns.get(runId)?.job?.job_id === job.job_id) {
        this._setRerun(runId, { job: next, error: null });
      }
    } catch (error) {
      // The server forgot the job (restarted) or cannot be reached: say so, and stop following it.
      this._setRerun(runId, { job: null, error: (error as Error).message });
    }
  }

  private _runsQuery(experiment: string) {
    return {
      experiment,
      q: this._query,
      sort: this._sort,
      order: this._order
    };
  }

  /**
   * One poll: the cheap status; the list refreshed when the store changed (or, while runs are
   * running, every time: their metrics and elapsed time move); the shown runs that are running
   * reloaded; the reruns in progress followed.
   */
  private async _tick(): Promise<void> {
    try {
      await Promise.all([
        this._tickList(),
        ...this._liveRuns().map(runId => this._loadRun(runId)),
        ...this._activeReruns().map(([runId, job]) => this._pollJob(runId, job))
      ]);
    } finally {
      this._setFrequency();
    }
  }

  private async _tickList(): Promise<void> {
    let status: IStatus;
    try {
      status = await fetchStatus();
    } catch (error) {
      this._notice =
        errorStatus(error) === 404
          ? 'The jupyter_tracker server extension is not installed or not enabled on this server ' +
            '(pip install jupyter_tracker, then restart JupyterLab).'
          : `Cannot reach the tracker: ${(error as Error).message}`;
      this._unreachable = true;
      this._changed.emit();
      throw error; // the poll backs off
    }
    const firstStatus = this._status === null;
    this._status = status;
    if (firstStatus) {
      this._changed.emit(); // views waiting for it (a detail's rerun button) show now
    }
    const recovered = this._unreachable;
    if (this._unreachable) {
      this._unreachable = false;
      this._notice = null;
      this._listStamp = ''; // reload what was shown before the server went away
      this._changed.emit();
    }
    if (!status.store_exists) {
      this._notice = null;
      this._groups = [];
      this._loaded = true;
      this._stamp = this._listStamp = '';
      this._changed.emit();
      return;
    }
    const stamp = [status.runs, status.running, status.last_start, status.last_end].join(':');
    const changed = stamp !== this._stamp;
    const first = this._stamp === '';
    this._stamp = stamp;
    // The list is reloaded only while the sidebar shows it (activate reloads it when shown again).
    if (this._active && (stamp !== this._listStamp || !this._loaded || (status.running ?? 0) > 0)) {
      this._listStamp = stamp;
      await this.refresh();
    }
    if (changed && !first) {
      this._storeChanged.emit(status);
    }
    // Tables shown: refreshed when the store changed since the last tick, or while runs run.
    // A table opened before the first status takes the first stamp as what it loaded.
    const storeChanged = (this._viewStamp !== null && stamp !== this._viewStamp) || recovered;
    this._viewStamp = stamp;
    if (this._views.size > 0 && (storeChanged || (status.running ?? 0) > 0)) {
      await Promise.all([...this._views].map(view => view.refresh(storeChanged).catch(() => undefined)));
    }
  }


  private _poll: Poll;
  private _active = false;
  private _loaded = false;
  private _status: IStatus | null = null;
  private _notice: string | null = null;
  private _stamp = ''; // the store's activity at the last tick
  private _listStamp = ''; // ... when the list was last reloaded
  private _viewStamp: string | null = ''; // ... when the tables were last refreshed (null: not yet known)
  private _unreachable = false;
  private _generation = 0;
  private _groups: IGroup[] = [];
  private _expanded = new Map<string, boolean>();
  private _columns: IColumns = { metrics: [], params: [], tags: [] };
  private _query = '';
  private _sort = 'start';
  private _order: 'asc' | 'desc' = 'desc';
  private _selected = new Map<string, IRunSummary>();
  private _runs = new Map<string, IRunView>();
  private _loading = new Map<string, Promise<void>>();
  private _watched = new Map<string, number>(); // run id -> views showing it
  private _gone = new Set<string>(); // watched runs the server answered 404 for
  private _reruns = new Map<string, IRerunState>();
  private _views = new Set<ILiveView>(); // runs tables shown, refreshed by the poll
  private _changed = new Signal<this, void>(this);
  private _storeChanged = new Signal<this, IStatus>(this);
  private _runChanged = new Signal<this, string>(this);
  private _rerunChanged = new Signal<this, string>(this);
}
