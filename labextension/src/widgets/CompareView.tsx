/**
 * Runs side by side: params, seeds, metrics (with deltas to the first run), data, environment
 * and packages, differing values highlighted; charts of final metric values across runs and of
 * step series; code diffs against the first run.
 */
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { fetchComparison, fetchMetricSeries, ICompareMetricRow, ICompareRow, IComparison } from '../request';
import { BarChart, ISeries, Legend, LineChart } from './Charts';
import { formatNumber, formatValue, metricNumber, runColour, shortId } from './format';

export class CompareWidget extends ReactWidget {
  constructor(
    readonly runIds: string[],
    private readonly openRun: (runId: string) => void
  ) {
    super();
    this.addClass('jp-JupyterTracker-view');
  }

  render(): JSX.Element {
    return <CompareView runIds={this.runIds} openRun={this.openRun} />;
  }
}

function CompareView(props: { runIds: string[]; openRun: (runId: string) => void }): JSX.Element {
  const { runIds, openRun } = props;
  const [comparison, setComparison] = React.useState<IComparison | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [onlyDiffering, setOnlyDiffering] = React.useState(false);

  React.useEffect(() => {
    let cancelled = false;
    fetchComparison(runIds).then(
      data => !cancelled && setComparison(data),
      reason => !cancelled && setError((reason as Error).message)
    );
    return () => {
      cancelled = true;
    };
  }, [runIds.join(',')]);

  if (error) {
    return (
      <div className="jp-JupyterTracker-notice" role="alert">
        {error}
      </div>
    );
  }
  if (!comparison) {
    return <div className="jp-JupyterTracker-empty">Comparing {runIds.length} runs…</div>;
  }
  const labels = comparison.details.map(d => `${d.name} ${shortId(d.run_id)}`);
  const differing = (rows: ICompareRow[]) => rows.filter(r => r.differs).length;
  const sections: [string, ICompareRow[]][] = [
    ['Params', comparison.params],
    ['Seeds', comparison.seeds],
    ['Data', comparison.data],
    ['Environment', comparison.environment],
    ['Packages', comparison.packages]
  ];
  return (
    <article className="jp-JupyterTracker-compare" aria-label={`Comparison of ${runIds.length} runs`}>
      <header className="jp-JupyterTracker-detailHeader">
        <h1>Comparing {comparison.details.length} runs</h1>
        <label className="jp-JupyterTracker-muted">
          <input
            type="checkbox"
            checked={onlyDiffering}
            onChange={event => setOnlyDiffering(event.target.checked)}
          />{' '}
          only differences
        </label>
      </header>
      <p className="jp-JupyterTracker-muted">
        Values that differ between runs are highlighted (≠); metric deltas are against the first run.
      </p>
      <Legend items={labels.map((label, i) => ({ label, colour: runColour(i) }))} />

      <MetricsTable
        rows={comparison.metrics}
        labels={labels}
        runIds={comparison.runs}
        openRun={openRun}
        onlyDiffering={onlyDiffering}
      />
      <section className="jp-JupyterTracker-section" aria-label="Charts">
        <h2>Charts</h2>
        <div className="jp-JupyterTracker-charts">
          {comparison.metrics.map(row => (
            <BarChart
              key={row.key}
              title={row.key}
              bars={row.values.map((value, i) => ({
                label: labels[i],
                value: metricNumber(value),
                colour: runColour(i)
              }))}
            />
          ))}
        </div>
        <StepSeries comparison={comparison} labels={labels} />
      </section>

      {sections.map(([title, rows]) => (
        <CompareTable
          key={title}
          title={title}
          rows={rows}
          labels={labels}
          runIds={comparison.runs}
          openRun={openRun}
          onlyDiffering={onlyDiffering}
          summary={`${differing(rows)} of ${rows.length} differ`}
        />
      ))}

      <section className="jp-JupyterTracker-section" aria-label="Code">
        <h2>Code</h2>
        {comparison.code.map(({ run, diff }) => (
          <div key={run}>
            <h3>
              {shortId(comparison.runs[0])} → {run}
            </h3>
            {diff ? <Diff text={diff} /> : <div className="jp-JupyterTracker-muted">identical cell code</div>}
          </div>
        ))}
      </section>
    </article>
  );
}

function HeaderRow(props: { labels: string[]; runIds: string[]; openRun: (runId: string) => void; extra?: string }): JSX.Element {
  return (
    <tr>
      <th />
      {props.labels.map((label, i) => (
        <th key={i} scope="col">
          <span className="jp-JupyterTracker-swatch" style={{ background: runColour(i) }} />
          <button className="jp-JupyterTracker-link" onClick={() => props.openRun(props.runIds[i])}>
            {label}
          </button>
        </th>
      ))}
      <th aria-label="differs" />
    </tr>
  );
}

function CompareTable(props: {
  title: string;
  rows: ICompareRow[];
  labels: string[];
  runIds: string[];
  openRun: (runId: string) => void;
  onlyDiffering: boolean;
  summary: string;
}): JSX.Element | null {
  const rows = props.onlyDiffering ? props.rows.filter(r => r.differs) : props.rows;
  if (props.rows.length === 0) {
    return null;
  }
  return (
    <section className="jp-JupyterTracker-section" aria-label={props.title}>
      <h2>
        {props.title} <span className="jp-JupyterTracker-muted">{props.summary}</span>
      </h2>
      <table className="jp-JupyterTracker-table jp-JupyterTracker-compareTable">
        <thead>
          <HeaderRow labels={props.labels} runIds={props.runIds} openRun={props.openRun} />
        </thead>
        <tbody>
          {rows.map(row => (
            <tr
              key={row.key}
              className={row.differs ? 'jp-JupyterTracker-differs' : ''}
              data-differs={row.differs ? 'true' : 'false'}
            >
              <th scope="row">{row.key}</th>
              {row.values.map((value, i) => (
                <td key={i}>{formatValue(value, 120)}</td>
              ))}
              <td className="jp-JupyterTracker-mark">{row.differs ? '≠' : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function MetricsTable(props: {
  rows: ICompareMetricRow[];
  labels: string[];
  runIds: string[];
  openRun: (runId: string) => void;
  onlyDiffering: boolean;
}): JSX.Element | null {
  const rows = props.onlyDiffering ? props.rows.filter(r => r.differs) : props.rows;
  if (props.rows.length === 0) {
    return null;
  }
  return (
    <section className="jp-JupyterTracker-section" aria-label="Metrics">
      <h2>
        Metrics{' '}
        <span className="jp-JupyterTracker-muted">
          {props.rows.filter(r => r.differs).length} of {props.rows.length} differ
        </span>
      </h2>
      <table className="jp-JupyterTracker-table jp-JupyterTracker-compareTable">
        <thead>
          <HeaderRow labels={props.labels} runIds={props.runIds} openRun={props.openRun} />
        </thead>
        <tbody>
          {rows.map(row => (
            <tr
              key={row.key}
              className={row.differs ? 'jp-JupyterTracker-differs' : ''}
              data-differs={row.differs ? 'true' : 'false'}
            >
              <th scope="row">{row.key}</th>
              {row.values.map((value, i) => {
                const delta = row.deltas[i];
                return (
                  <td key={i}>
                    {formatValue(value)}
                    {i > 0 && delta !== null && delta !== 0 && (
                      <span className={delta > 0 ? 'jp-JupyterTracker-up' : 'jp-JupyterTracker-down'}>
                        {' '}
                        ({delta > 0 ? '+' : ''}
                        {formatNumber(delta)})
                      </span>
                    )}
                  </td>
                );
              })}
              <td className="jp-JupyterTracker-mark">{row.differs ? '≠' : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function StepSeries(props: { comparison: IComparison; labels: string[] }): JSX.Element | null {
  const { comparison, labels } = props;
  const names = [
    ...new Set(
      comparison.details.flatMap(d => Object.entries(d.metric_steps).filter(([, n]) => n > 1).map(([k]) => k))
    )
  ];
  const [series, setSeries] = React.useState<{ [name: string]: ISeries[] }>({});
  const [errors, setErrors] = React.useState<{ [name: string]: string }>({});
  React.useEffect(() => {
    let cancelled = false;
    for (const name of names) {
      const wanted = comparison.details.filter(d => (d.metric_steps[name] ?? 0) > 0);
      Promise.all(
        wanted.map(d =>
          fetchMetricSeries(d.run_id, name).then(data => ({
            label: labels[comparison.details.indexOf(d)],
            colour: runColour(comparison.details.indexOf(d)),
            steps: data.step,
            values: data.value.map(metricNumber)
          }))
        )
      ).then(
        lines => !cancelled && setSeries(previous => ({ ...previous, [name]: lines })),
        reason =>
          !cancelled && setErrors(previous => ({ ...previous, [name]: (reason as Error).message }))
      );
    }
    return () => {
      cancelled = true;
    };
  }, [comparison]);
  if (names.length === 0) {
    return null;
  }
  return (
    <div className="jp-JupyterTracker-charts">
      {names.map(name =>
        series[name] ? (
          <LineChart key={name} title={`${name} by step`} series={series[name]} />
        ) : errors[name] ? (
          <div key={name} className="jp-JupyterTracker-notice" role="alert">
            Cannot load the steps of {name}: {errors[name]}
          </div>
        ) : (
          <div key={name} className="jp-JupyterTracker-muted">
            Loading {name}…
          </div>
        )
      )}
    </div>
  );
}

function Diff(props: { text: string }): JSX.Element {
  return (
    <pre className="jp-JupyterTracker-code jp-JupyterTracker-diff">
      {props.text.split('\n').map((line, i) => (
        <div
          key={i}
          className={
            line.startsWith('+') && !line.startsWith('+++')
              ? 'jp-mod-added'
              : line.startsWith('-') && !line.startsWith('---')
                ? 'jp-mod-removed'
                : ''
          }
        >
          {line || ' '}
        </div>
      ))}
    </pre>
  );
}
