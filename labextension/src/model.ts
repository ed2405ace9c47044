/**
 * The sidebar's state: experiments, their loaded pages of runs, the search and sort, the
 * selection; and the Poll that notices new or finished runs and refreshes what is shown.
 */
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import {
  errorStatus,
  fetchColumns,
  fetchExperiments,
  fetchRuns,
  fetchStatus,
  IColumns,
  IRunSummary,
  IStatus
} from './request';

export const PAGE_SIZE = 50;
const MAX_REFRESH = 1000; // a refresh reloads at most this many rows of a group (the API's page limit)
const POLL_INTERVAL = 2000; // ms: new runs show within a few seconds (issue 4)

export interface IGroup {
  name: string;
  total: number;
  runs: IRunSummary[];
  expanded: boolean;
  loading: boolean;
  error: string | null;
}

export class TrackerModel {
  constructor() {
    this._poll = new Poll({
      auto: false,
      factory: () => this._tick(),
      frequency: { interval: POLL_INTERVAL, backoff: true, max: 30 * 1000 },
      name: 'jupyter-tracker:runs',
      standby: () => !this._active || 'when-hidden'
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
      groups.forEach((group, index) => {
        const page = pages[index];
        if (page) {
          group.runs = page.runs;
          group.total = page.total;
        }
      });
      this._groups = groups;
      this._columns = columns;
      this._notice = null;
      this._loaded = true;
    } catch (error) {
      if (generation === this._generation) {
        this._notice = (error as Error).message;
      }
    }
    this._changed.emit();
  }

  dispose(): void {
    this._poll.dispose();
    Signal.clearData(this);
  }

  private _runsQuery(experiment: string) {
    return {
      experiment,
      q: this._query,
      sort: this._sort,
      order: this._order
    };
  }

  /** One poll: the cheap status; a full refresh only when the store changed. */
  private async _tick(): Promise<void> {
    let status: IStatus;
    try {
      status = await fetchStatus();
    } catch (error) {
      this._notice =
        errorStatus(error) === 404
          ? 'The jupyter_tracker server extension is not installed or not enabled on this server ' +
            '(pip install jupyter_tracker, then restart JupyterLab).'
          : `Cannot reach the tracker: ${(error as Error).message}`;
      this._changed.emit();
      throw error; // the poll backs off
    }
    this._status = status;
    if (!status.store_exists) {
      this._notice = null;
      this._groups = [];
      this._loaded = true;
      this._stamp = '';
      this._changed.emit();
      return;
    }
    const stamp = [status.runs, status.running, status.last_start, status.last_end].join(':');
    if (stamp !== this._stamp || !this._loaded) {
      const first = this._stamp === '';
      this._stamp = stamp;
      await this.refresh();
      if (!first) {
        this._storeChanged.emit(status);
      }
    }
  }

  private _poll: Poll;
  private _active = false;
  private _loaded = false;
  private _status: IStatus | null = null;
  private _notice: string | null = null;
  private _stamp = '';
  private _generation = 0;
  private _groups: IGroup[] = [];
  private _expanded = new Map<string, boolean>();
  private _columns: IColumns = { metrics: [], params: [], tags: [] };
  private _query = '';
  private _sort = 'start';
  private _order: 'asc' | 'desc' = 'desc';
  private _selected = new Map<string, IRunSummary>();
  private _changed = new Signal<this, void>(this);
  private _storeChanged = new Signal<this, IStatus>(this);
}
