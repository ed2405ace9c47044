/**
 * The sidebar: search, sort, runs grouped by experiment (paged from the server as the list
 * scrolls), and the selection to compare.
 */
import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { IGroup, MAX_COMPARED, TrackerModel } from '../model';
import { IRunSummary } from '../request';
import { formatAgo, formatDuration, formatMetric, formatValue, runElapsed, shortId, truncate } from './format';

// Characters of a name in an accessible name or a menu option; the title holds it whole.
const NAME_CHARS = 80;
const KEY_CHARS = 24; // of a param, tag or metric name in a row's values

export interface IRunListActions {
  openRun: (runId: string) => void;
  compare: (runIds: string[]) => void;
  /** The runs table of an experiment, or of all experiments (null). */
  openTable: (experiment: string | null) => void;
}

const PLAIN_SORTS: [string, string][] = [
  ['start', 'start time'],
  ['name', 'name'],
  ['duration', 'duration'],
  ['status', 'status']
];

export class RunListPanel extends ReactWidget {
  constructor(
    private readonly model: TrackerModel,
    private readonly actions: IRunListActions
  ) {
    super();
    this.addClass('jp-JupyterTracker-panel');
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.model.activate();
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.model.deactivate();
  }

  render(): JSX.Element {
    return (
      <UseSignal signal={this.model.changed}>
        {() => <RunList model={this.model} actions={this.actions} />}
      </UseSignal>
    );
  }
}

function RunList(props: { model: TrackerModel; actions: IRunListActions }): JSX.Element {
  const { model, actions } = props;
  const selected = model.selected;
  return (
    <div className="jp-JupyterTracker-runList">
      <header className="jp-JupyterTracker-header">
        <div className="jp-JupyterTracker-titleRow">
          <h2 className="jp-JupyterTracker-title">Experiment runs</h2>
          <button
            className="jp-JupyterTracker-button"
            title="Open the runs of all experiments in a table in the main area"
            onClick={() => actions.openTable(null)}
          >
            Runs table
          </button>
        </div>
        <SearchBox model={model} />
        <SortControls model={model} />
      </header>
      {model.notice && (
        <div className="jp-JupyterTracker-notice" role="alert">
          {model.notice}
        </div>
      )}
      {selected.length > 0 && (
        <div className="jp-JupyterTracker-selection" aria-label="Selected runs">
          <span>
            {selected.length} selected
          </span>
          <button
            className="jp-JupyterTracker-button jp-mod-accept"
            disabled={selected.length < 2 || selected.length > MAX_COMPARED}
            title={
              selected.length < 2
                ? 'Select at least two runs'
                : selected.length > MAX_COMPARED
                  ? `At most ${MAX_COMPARED} runs can be compared at once`
                  : ''
            }
            onClick={() => actions.compare(selected.map(r => r.run_id))}
          >
            Compare {selected.length} runs
          </button>
          <button className="jp-JupyterTracker-button" onClick={() => model.clearSelection()}>
            Clear selection
          </button>
        </div>
      )}
      <div className="jp-JupyterTracker-groups">
        {model.loaded && model.groups.length === 0 && !model.notice && <EmptyState model={model} />}
        {!model.loaded && !model.notice && (
          <div className="jp-JupyterTracker-empty">Loading runs…</div>
        )}
        {model.groups.map(group => (
          <Group key={group.name} group={group} model={model} actions={actions} />
        ))}
      </div>
    </div>
  );
}

function EmptyState(props: { model: TrackerModel }): JSX.Element {
  const { model } = props;
  if (model.query) {
    return <div className="jp-JupyterTracker-empty">No run matches “{model.query}”.</div>;
  }
  return (
    <div className="jp-JupyterTracker-empty">
      <p>No runs recorded yet.</p>
      <p>
        Run a cell starting with <code>%%track NAME</code> (after <code>%load_ext jupyter_tracker</code>):
        its run appears here within seconds.
      </p>
      {model.status && (
        <p className="jp-JupyterTracker-muted">Store: {model.status.store_path}</p>
      )}
    </div>
  );
}

function SearchBox(props: { model: TrackerModel }): JSX.Element {
  const { model } = props;
  const [text, setText] = React.useState(model.query);
  React.useEffect(() => {
    // Typing is smooth: the server is asked once the typing pauses.
    const timer = setTimeout(() => model.setQuery(text.trim()), 250);
    return () => clearTimeout(timer);
  }, [text]);
  return (
    <input
      className="jp-JupyterTracker-search"
      type="search"
      aria-label="Search runs"
      placeholder="Search names, params, tags…"
      value={text}
      onChange={event => setText(event.target.value)}
    />
  );
}

function SortControls(props: { model: TrackerModel }): JSX.Element {
  const { model } = props;
  const { metrics, params, tags } = model.columns;
  return (
    <div className="jp-JupyterTracker-sort">
      <label>
        Sort by{' '}
        <select
          aria-label="Sort by"
          value={model.sort}
          onChange={event => model.setSort(event.target.value)}
        >
          {PLAIN_SORTS.map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
          {metrics.length > 0 && (
            <optgroup label="metrics">
              {metrics.map(m => (
                <option key={m} value={`metrics.${m}`} title={m}>
                  {truncate(m, NAME_CHARS)}
                </option>
              ))}
            </optgroup>
          )}
          {params.length > 0 && (
            <optgroup label="params">
              {params.map(p => (
                <option key={p} value={`params.${p}`} title={p}>
                  {truncate(p, NAME_CHARS)}
                </option>
              ))}
            </optgroup>
          )}
          {tags.length > 0 && (
            <optgroup label="tags">
              {tags.map(t => (
                <option key={t} value={`tags.${t}`} title={t}>
                  {truncate(t, NAME_CHARS)}
                </option>
              ))}
            </optgroup>
          )}
        </select>
      </label>
      <button
        className="jp-JupyterTracker-button"
        aria-label={model.order === 'asc' ? 'Ascending order' : 'Descending order'}
        title="Reverse the order"
        onClick={() => model.toggleOrder()}
      >
        {model.order === 'asc' ? '↑ asc' : '↓ desc'}
      </button>
    </div>
  );
}

function Group(props: {
  group: IGroup;
  model: TrackerModel;
  actions: IRunListActions;
}): JSX.Element {
  const { group, model, actions } = props;
  const remaining = group.total - group.runs.length;
  return (
    <section className="jp-JupyterTracker-group" aria-label={`Experiment ${truncate(group.name, NAME_CHARS)}`}>
      <div className="jp-JupyterTracker-groupBar">
      <button
        className="jp-JupyterTracker-groupHeader"
        aria-expanded={group.expanded}
        onClick={() => model.toggleGroup(group.name)}
      >
        <span className="jp-JupyterTracker-caret">{group.expanded ? '▾' : '▸'}</span>
        <span className="jp-JupyterTracker-groupName" title={group.name}>
          {truncate(group.name, 200)}
        </span>
        <span className="jp-JupyterTracker-count">{group.total}</span>
      </button>
      <button
        className="jp-JupyterTracker-iconButton jp-JupyterTracker-openTable"
        aria-label="Open in table"
        title={`Open the runs of ${truncate(group.name, NAME_CHARS)} in a table`}
        onClick={() => actions.openTable(group.name)}
      >
        ⊞
      </button>
      </div>
      {group.expanded && (
        <ul className="jp-JupyterTracker-rows" aria-label={`Runs of ${truncate(group.name, NAME_CHARS)}`}>
          {group.runs.map(run => (
            <RunRow key={run.run_id} run={run} model={model} actions={actions} />
          ))}
        </ul>
      )}
      {group.expanded && group.error && (
        <div className="jp-JupyterTracker-notice" role="alert">
          {group.error}
        </div>
      )}
      {group.expanded && remaining > 0 && (
        <LoadMore
          loading={group.loading}
          remaining={remaining}
          onLoad={() => void model.loadMore(group.name)}
        />
      )}
    </section>
  );
}

/** The end of a group's loaded rows: loads the next page when it scrolls into view. */
function LoadMore(props: { loading: boolean; remaining: number; onLoad: () => void }): JSX.Element {
  const ref = React.useRef<HTMLButtonElement>(null);
  const { onLoad } = props;
  React.useEffect(() => {
    const element = ref.current;
    if (!element || typeof IntersectionObserver === 'undefined') {
      return;
    }
    const observer = new IntersectionObserver(
      entries => {
        if (entries.some(entry => entry.isIntersecting)) {
          onLoad();
        }
      },
      { rootMargin: '400px' }
    );
    observer.observe(element);
    return () => observer.disconnect();
  });
  return (
    <button
      ref={ref}
      className="jp-JupyterTracker-loadMore"
      disabled={props.loading}
      onClick={onLoad}
    >
      {props.loading ? 'Loading…' : `Load more (${props.remaining} more)`}
    </button>
  );
}

function RunRow(props: {
  run: IRunSummary;
  model: TrackerModel;
  actions: IRunListActions;
}): JSX.Element {
  const { run, model, actions } = props;
  const label = `${truncate(run.name, NAME_CHARS)} ${shortId(run.run_id)}`;
  const values = rowValues(run, model.sort);
  return (
    <li className="jp-JupyterTracker-row" data-run-id={run.run_id}>
      <input
        type="checkbox"
        aria-label={`Select ${label}`}
        checked={model.isSelected(run.run_id)}
        onChange={() => model.toggleSelected(run)}
      />
      <button
        className="jp-JupyterTracker-rowMain"
        aria-label={`Open run ${label}`}
        title={`Open run ${run.run_id}`}
        onClick={() => actions.openRun(run.run_id)}
      >
        <span className="jp-JupyterTracker-rowTop">
          <span
            className={`jp-JupyterTracker-status jp-JupyterTracker-status-${run.status}`}
            title={run.status}
            aria-label={run.status}
          />
          <span className="jp-JupyterTracker-runName" title={run.name}>
            {truncate(run.name, 200)}
          </span>
          <span className="jp-JupyterTracker-runId">{shortId(run.run_id)}</span>
          {run.hidden_state && !run.hidden_state.clean && (
            <span className="jp-JupyterTracker-badge jp-mod-warning" title="Hidden state">
              hidden state
            </span>
          )}
          {run.rerun_of && <span className="jp-JupyterTracker-badge">rerun</span>}
          {run.status === 'running' ? (
            <span className="jp-JupyterTracker-ago jp-JupyterTracker-elapsed" title="Running for">
              running {formatDuration(runElapsed(run))}
            </span>
          ) : (
            <span className="jp-JupyterTracker-ago">{formatAgo(run.start)}</span>
          )}
        </span>
        <span className="jp-JupyterTracker-rowValues" title={values.full}>
          {values.shown}
        </span>
      </button>
    </li>
  );
}

/**
 * The sorted-by value first, then a few metrics: what tells runs apart at a glance; shortened
 * (names and values) to show, and whole for the row's title.
 */
function rowValues(run: IRunSummary, sort: string): { shown: string; full: string } {
  const parts: [string, string, number][] = []; // name, value as text, characters of it shown
  const [family, ...rest] = sort.split('.');
  const key = rest.join('.');
  const own = (record: object, name: string) => Object.prototype.hasOwnProperty.call(record, name);
  if (key && family === 'params') {
    parts.push([key, formatValue(own(run.params, key) ? run.params[key] : undefined, Infinity), 24]);
  } else if (key && family === 'tags') {
    parts.push([key, formatValue(own(run.tags, key) ? run.tags[key] : undefined, Infinity), 24]);
  } else if (key && family === 'metrics') {
    parts.push([key, formatMetric(own(run.metrics, key) ? run.metrics[key] : undefined), 24]);
  }
  for (const [name, value] of Object.entries(run.metrics)) {
    if (parts.length >= 3) {
      break;
    }
    if (!(family === 'metrics' && name === key)) {
      parts.push([name, formatMetric(value), 16]);
    }
  }
  if (parts.length === 0) {
    const params = Object.entries(run.params).slice(0, 2);
    parts.push(...params.map(([k, v]) => [k, formatValue(v, Infinity), 16] as [string, string, number]));
  }
  return {
    shown: parts.map(([name, text, chars]) => `${truncate(name, KEY_CHARS)}=${truncate(text, chars)}`).join('  '),
    full: parts.map(([name, text]) => `${name}=${text}`).join('  ')
  };
}
