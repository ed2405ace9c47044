/**
 * Everything recorded about one run: status, hidden-state flag, params, seeds, data
 * fingerprints (with the columns changed since the previous run), metrics with their step
 * series, code, environment; and the rerun button.
 */
import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { IRunView, TrackerModel } from '../model';
import { IDataRef, IMetricSeries, JSONValue } from '../request';
import { LineChart } from './Charts';
import {
  formatBytes,
  formatDuration,
  formatMetric,
  formatTime,
  formatValue,
  parseMetric,
  runColour,
  runElapsed,
  shortId,
  truncate
} from './format';
import { RerunButton } from './RerunButton';
import { Clip, Key, LongText } from './Text';

// Characters of a run's name in the accessible names (the page shows it whole in "Run").
const NAME_CHARS = 80;

/**
 * A run's detail in the main area. While it is visible it asks the model to watch the run: the
 * model's poll reloads a running run (metrics, step series, status) until it ends (issue 12).
 */
export class RunDetailWidget extends ReactWidget {
  constructor(
    readonly runId: string,
    private readonly model: TrackerModel,
    private readonly openRun: (runId: string) => void
  ) {
    super();
    this.addClass('jp-JupyterTracker-view');
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this.isVisible) {
      this._watch(true);
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._watch(true);
  }

  protected onBeforeHide(msg: Message): void {
    super.onBeforeHide(msg);
    this._watch(false);
  }

  protected onBeforeDetach(msg: Message): void {
    this._watch(false);
    super.onBeforeDetach(msg);
  }

  render(): JSX.Element {
    return (
      <UseSignal signal={this.model.runChanged} shouldUpdate={(_, runId) => runId === this.runId}>
        {() => (
          <UseSignal signal={this.model.changed}>
            {() => <RunDetail view={this.model.runView(this.runId)} runId={this.runId} model={this.model} openRun={this.openRun} />}
          </UseSignal>
        )}
      </UseSignal>
    );
  }

  private _watch(on: boolean): void {
    if (on && !this._watching) {
      this.model.watchRun(this.runId);
    } else if (!on && this._watching) {
      this.model.unwatchRun(this.runId);
    }
    this._watching = on;
  }

  private _watching = false;
}

function RunDetail(props: {
  view: IRunView | undefined;
  runId: string;
  model: TrackerModel;
  openRun: (runId: string) => void;
}): JSX.Element {
  const { view, runId, model, openRun } = props;
  const detail = view?.detail;
  if (!detail) {
    return view?.error ? (
      <div className="jp-JupyterTracker-notice" role="alert">
        Cannot load run {shortId(runId)}: {view.error}
      </div>
    ) : (
      <div className="jp-JupyterTracker-empty">Loading run {shortId(runId)}…</div>
    );
  }
  const { run } = detail;
  const env = run.environment;
  const git = (env.git ?? {}) as { [key: string]: JSONValue };
  const packages = (env.packages ?? {}) as { [key: string]: JSONValue };
  return (
    <article
      className="jp-JupyterTracker-detail"
      aria-label={`Run ${truncate(run.name, NAME_CHARS)} ${shortId(run.run_id)}`}
    >
      <header className="jp-JupyterTracker-detailHeader">
        <h1>
          <Clip text={run.name} /> <span className="jp-JupyterTracker-runId">{shortId(run.run_id)}</span>
        </h1>
        <span
          className={`jp-JupyterTracker-pill jp-JupyterTracker-status-${run.status}`}
          role="status"
          aria-label="Run status"
        >
          {run.status}
        </span>
        {run.status === 'running' && (
          <span className="jp-JupyterTracker-muted" aria-label="Elapsed time">
            {formatDuration(runElapsed(run))}
          </span>
        )}
        <HiddenState state={run.hidden_state} />
        {model.status?.rerun && <RerunButton runId={run.run_id} model={model} onOpenRun={openRun} />}
      </header>
      {view.error && (
        <div className="jp-JupyterTracker-notice" role="alert">
          Cannot reload this run: {view.error}
        </div>
      )}

      <Section title="Run">
        <KeyValues
          rows={[
            ['run id', run.run_id],
            ['name', run.name],
            ['experiment', run.experiment],
            ['status', run.status],
            ['start', formatTime(run.start)],
            ['end', formatTime(run.end)],
            ['duration', formatDuration(runElapsed(run))],
            ['source', run.source],
            ...(run.rerun_of ? ([['rerun of', run.rerun_of]] as [string, string][]) : []),
            ...(env.notebook ? ([['notebook', String(env.notebook)]] as [string, string][]) : []),
            ...Object.entries(run.tags).map(([k, v]) => [`tag ${k}`, v] as [string, string])
          ]}
        />
        {run.rerun_of && (
          <button className="jp-JupyterTracker-link" onClick={() => openRun(run.rerun_of!)}>
            Open the original run {shortId(run.rerun_of)}
          </button>
        )}
      </Section>

      <Section title="Params" count={Object.keys(run.params).length}>
        <KeyValues rows={Object.entries(run.params).map(([k, v]) => [k, formatValue(v, Infinity)])} />
      </Section>

      <Section title="Seeds" count={run.seeds.length}>
        <KeyValues rows={run.seeds.map(s => [s.source, formatValue(s.value, Infinity)])} />
      </Section>

      <Section title="Metrics" count={Object.keys(run.metrics).length}>
        <table className="jp-JupyterTracker-table">
          <thead>
            <tr>
              <th>metric</th>
              <th>final value</th>
              <th>points</th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(run.metrics).map(([name, value]) => (
              <tr key={name}>
                <th scope="row">
                  <Key text={name} />
                </th>
                <td>{formatMetric(value)}</td>
                <td>{Object.prototype.hasOwnProperty.call(run.metric_steps, name) ? run.metric_steps[name] : 1}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {Object.entries(run.metric_steps)
          .filter(([, points]) => points > 1)
          .map(([name]) => (
            <MetricSeries
              key={name}
              runId={run.run_id}
              name={name}
              series={view.series[name]}
              error={view.seriesErrors[name]}
            />
          ))}
      </Section>

      <Section title="Data" count={run.inputs.length + run.outputs.length}>
        {detail.previous_run_id && (
          <p className="jp-JupyterTracker-muted">
            Compared with the previous run of “{run.name}”,{' '}
            <button className="jp-JupyterTracker-link" onClick={() => openRun(detail.previous_run_id!)}>
              {shortId(detail.previous_run_id)}
            </button>
            .
          </p>
        )}
        {[...run.inputs, ...run.outputs].map(ref => (
          <DataItem key={`${ref.role}:${ref.name}`} item={ref} changed={ref.role === 'input' ? detail.changed_inputs[ref.name] : undefined} />
        ))}
      </Section>

      <Section title="Code">
        <pre className="jp-JupyterTracker-code" aria-label="Cell code">
          {run.code}
        </pre>
        <details>
          <summary>Execution history ({run.history.length} cells, in the order the kernel ran them)</summary>
          {run.history.map((source, index) => (
            <pre key={index} className="jp-JupyterTracker-code">
              {`[${index + 1}] ${source}`}
            </pre>
          ))}
        </details>
      </Section>

      <Section title="Environment">
        <KeyValues
          rows={[
            ...(['python', 'os', 'host', 'cwd'] as const)
              .filter(k => env[k])
              .map(k => [k, formatValue(env[k], Infinity)] as [string, string]),
            ...(git.commit
              ? ([['git', `${String(git.commit).slice(0, 12)}${git.dirty ? ' (dirty)' : ''}`]] as [string, string][])
              : [])
          ]}
        />
        {Object.keys(packages).length > 0 && (
          <details>
            <summary>Packages ({Object.keys(packages).length})</summary>
            <KeyValues rows={Object.entries(packages).map(([k, v]) => [k, formatValue(v)])} />
          </details>
        )}
      </Section>

      {run.artifacts && run.artifacts.length > 0 && (
        <Section title="Artifacts" count={run.artifacts.length}>
          <KeyValues
            rows={run.artifacts.map(a => [a.name, `${a.kind} · ${a.format} · ${formatBytes(a.size)} · ${a.origin}`])}
          />
        </Section>
      )}

      {run.warnings.length > 0 && (
        <Section title="Warnings" count={run.warnings.length}>
          <ul>
            {run.warnings.map((w, i) => (
              <li key={i}>{w}</li>
            ))}
          </ul>
        </Section>
      )}

      {run.error && (
        <Section title="Error">
          <pre className="jp-JupyterTracker-code jp-mod-error">{run.error}</pre>
        </Section>
      )}
    </article>
  );
}

function HiddenState(props: { state: { clean: boolean; reasons?: string[] } | null | undefined }): JSX.Element {
  const { state } = props;
  if (!state) {
    return (
      <span className="jp-JupyterTracker-pill" title="This run's execution history was not checked for hidden state">
        hidden state: not checked
      </span>
    );
  }
  if (state.clean) {
    return <span className="jp-JupyterTracker-pill jp-mod-ok">hidden state: clean</span>;
  }
  return (
    <span className="jp-JupyterTracker-pill jp-mod-warning" title={(state.reasons ?? []).join('; ')}>
      hidden state: {(state.reasons ?? []).join('; ') || 'yes'}
    </span>
  );
}

function Section(props: { title: string; count?: number; children?: React.ReactNode }): JSX.Element {
  return (
    <section className="jp-JupyterTracker-section" aria-label={props.title}>
      <h2>
        {props.title}
        {props.count !== undefined && <span className="jp-JupyterTracker-count">{props.count}</span>}
      </h2>
      {props.count === 0 ? <div className="jp-JupyterTracker-muted">none recorded</div> : props.children}
    </section>
  );
}

export function KeyValues(props: { rows: [string, string][] }): JSX.Element {
  return (
    <table className="jp-JupyterTracker-table">
      <tbody>
        {props.rows.map(([key, value], index) => (
          <tr key={`${key}-${index}`}>
            <th scope="row">
              <Key text={key} />
            </th>
            <td>
              <LongText text={value} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function DataItem(props: { item: IDataRef; changed: string[] | undefined }): JSX.Element {
  const { item, changed } = props;
  const fp = item.fingerprint;
  const changedSet = new Set(changed ?? []);
  return (
    <div className="jp-JupyterTracker-data">
      <div className="jp-JupyterTracker-dataHead">
        <span className="jp-JupyterTracker-badge">{item.role}</span>{' '}
        <strong className="jp-JupyterTracker-wrap">{item.name}</strong>{' '}
        <span className="jp-JupyterTracker-muted">{item.source}</span>
        {changed !== undefined && (
          <span className="jp-JupyterTracker-badge jp-mod-warning" title={changed.join(', ')}>
            CHANGED{changed.length > 0 ? `: ${truncate(changed.join(', '), 120)}` : ''}
          </span>
        )}
      </div>
      {fp ? (
        <div>
          <span className="jp-JupyterTracker-muted">
            {fp.kind} · shape {fp.shape.join('×')} · {formatBytes(fp.nbytes)} · hash{' '}
          </span>
          <code>{fp.hash}</code>
          {fp.columns.length > 0 && (
            <details>
              <summary>Columns ({fp.columns.length})</summary>
              <table className="jp-JupyterTracker-table">
                <thead>
                  <tr>
                    <th>column</th>
                    <th>dtype</th>
                    <th>hash</th>
                    <th>stats</th>
                  </tr>
                </thead>
                <tbody>
                  {fp.columns.map(column => (
                    <tr
                      key={column.name}
                      className={changedSet.has(column.name) ? 'jp-JupyterTracker-differs' : ''}
                      data-differs={changedSet.has(column.name) ? 'true' : 'false'}
                    >
                      <th scope="row">
                        <Clip text={column.name} />
                      </th>
                      <td>{column.dtype}</td>
                      <td>
                        <code>{column.hash.slice(0, 12)}</code>
                      </td>
                      <td>
                        {Object.entries(column.stats)
                          .map(([k, v]) => `${k}=${formatValue(v, 24)}`)
                          .join('  ')}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </details>
          )}
        </div>
      ) : (
        <div className="jp-JupyterTracker-muted">not fingerprinted: {item.note}</div>
      )}
    </div>
  );
}

function MetricSeries(props: {
  runId: string;
  name: string;
  series: IMetricSeries | undefined;
  error: string | undefined;
}): JSX.Element {
  const { runId, name, series, error } = props;
  return (
    <>
      {error && (
        <div className="jp-JupyterTracker-notice" role="alert">
          Cannot load the steps of {truncate(name, NAME_CHARS)}: {error}
        </div>
      )}
      {series && (
        <LineChart
          title={name}
          series={[
            {
              label: shortId(runId),
              title: runId,
              colour: runColour(0),
              steps: series.step,
              values: series.value.map(parseMetric) // each value is a logged point: null is NaN
            }
          ]}
        />
      )}
      {!series && !error && <div className="jp-JupyterTracker-muted">Loading {truncate(name, NAME_CHARS)}…</div>}
    </>
  );
}
