/**
 * Runs side by side: params, seeds, metrics (with deltas to the first run), data, environment
 * and packages, differing values highlighted; charts of final metric values across runs and of
 * step series; code diffs against the first run.
 */
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { fetchComparison, fetchMetricSeries, ICompareMetricRow, ICompareRow, IComparison } from '../request';
import { BarChart, ISeries, Legend, LineChart } from './Charts';
import {
  formatDelta,
  formatMetric,
  formatValue,
  MISSING,
  parseMetric,
  parseNumber,
  runColour,
  shortId,
  truncate
} from './format';
import { Clip, LongText, RunName } from './Text';

const NAME_CHARS = 40; // of a run's name put in the page; CSS cuts it to the space there is
// A compare cell shows this much of a long value before "Show all" (a table of several runs).
const CELL = { chars: 120, lines: 3 };

/**
 * Whether run `index` of the comparison has the metric: a value of null is a metric the run
 * lacks, or NaN from a server older than issue 13 (json_safe wrote both as null); the runs'
 * metric names tell them apart.
 */
function hasMetric(comparison: IComparison, index: number, key: string): boolean {
  const steps = comparison.details[index]?.metric_steps;
  return steps ? Object.prototype.hasOwnProperty.call(steps, key) : comparison.metrics.some(
    row => row.key === key && row.values[index] !== null
  );
}

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
  // Names shortened for the tables, legends and charts (each with its short id); whole on hover.
  const labels = comparison.details.map(d => truncate(d.name, NAME_CHARS));
  const ids = comparison.details.map(d => shortId(d.run_id));
  const titles = comparison.details.map(d => `${d.name} ${d.run_id}`);
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
      <Legend items={labels.map((label, i) => ({ label, id: ids[i], title: titles[i], colour: runColour(i) }))} />

      <MetricsTable
        comparison={comparison}
        labels={labels}
        titles={titles}
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
                id: ids[i],
                title: titles[i],
                value: hasMetric(comparison, i, row.key) ? parseMetric(value) : null,
                colour: runColour(i)
              }))}
            />
          ))}
        </div>
        <StepSeries comparison={comparison} labels={labels} titles={titles} />
      </section>

      {sections.map(([title, rows]) => (
        <CompareTable
          key={title}
          title={title}
          rows={rows}
          labels={labels}
          titles={titles}
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

function HeaderRow(props: {
  labels: string[];
  titles: string[];
  runIds: string[];
  openRun: (runId: string) => void;
}): JSX.Element {
  return (
    <tr>
      <th className="jp-JupyterTracker-keyColumn" />
      {props.labels.map((label, i) => (
        <th key={i} scope="col">
          <span className="jp-JupyterTracker-swatch" style={{ background: runColour(i) }} />
          <button className="jp-JupyterTracker-link" onClick={() => props.openRun(props.runIds[i])}>
            <RunName name={label} id={shortId(props.runIds[i])} title={props.titles[i]} />
          </button>
        </th>
      ))}
      <th className="jp-JupyterTracker-markColumn" aria-label="differs" />
    </tr>
  );
}

function CompareTable(props: {
  title: string;
  rows: ICompareRow[];
  labels: string[];
  titles: string[];
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
          <HeaderRow labels={props.labels} titles={props.titles} runIds={props.runIds} openRun={props.openRun} />
        </thead>
        <tbody>
          {rows.map(row => (
            <tr
              key={row.key}
              className={row.differs ? 'jp-JupyterTracker-differs' : ''}
              data-differs={row.differs ? 'true' : 'false'}
            >
              <th scope="row">
                <Clip text={row.key} />
              </th>
              {row.values.map((value, i) => (
                <td key={i}>
                  <LongText text={formatValue(value, Infinity)} limits={CELL} />
                </td>
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
  comparison: IComparison;
  labels: string[];
  titles: string[];
  runIds: string[];
  openRun: (runId: string) => void;
  onlyDiffering: boolean;
}): JSX.Element | null {
  const { comparison } = props;
  const all: ICompareMetricRow[] = comparison.metrics;
  const rows = props.onlyDiffering ? all.filter(r => r.differs) : all;
  if (all.length === 0) {
    return null;
  }
  return (
    <section className="jp-JupyterTracker-section" aria-label="Metrics">
      <h2>
        Metrics{' '}
        <span className="jp-JupyterTracker-muted">
          {all.filter(r => r.differs).length} of {all.length} differ
        </span>
      </h2>
      <table className="jp-JupyterTracker-table jp-JupyterTracker-compareTable">
        <thead>
          <HeaderRow labels={props.labels} titles={props.titles} runIds={props.runIds} openRun={props.openRun} />
        </thead>
        <tbody>
          {rows.map(row => (
            <tr
              key={row.key}
              className={row.differs ? 'jp-JupyterTracker-differs' : ''}
              data-differs={row.differs ? 'true' : 'false'}
            >
              <th scope="row">
                <Clip text={row.key} />
              </th>
              {row.values.map((value, i) => {
                // null: no delta (a run lacks the metric, or one value is NaN); "-Infinity" is −∞.
                const delta = parseNumber(row.deltas[i]);
                return (
                  <td key={i}>
                    {hasMetric(comparison, i, row.key) ? formatMetric(value) : MISSING}
                    {i > 0 && delta !== null && delta !== 0 && (
                      <span className={delta > 0 ? 'jp-JupyterTracker-up' : 'jp-JupyterTracker-down'}>
                        {` (${formatDelta(delta)})`}
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

function StepSeries(props: { comparison: IComparison; labels: string[]; titles: string[] }): JSX.Element | null {
  const { comparison, labels, titles } = props;
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
      const wanted = comparison.details.filter(d => Object.prototype.hasOwnProperty.call(d.metric_steps, name));
      Promise.all(
        wanted.map(d =>
          fetchMetricSeries(d.run_id, name).then(data => ({
            label: labels[comparison.details.indexOf(d)],
            id: shortId(d.run_id),
            title: titles[comparison.details.indexOf(d)],
            colour: runColour(comparison.details.indexOf(d)),
            steps: data.step,
            values: data.value.map(parseMetric) // each value is a logged point: null is NaN
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
          <LineChart key={name} title={name} subtitle="by step" series={series[name]} />
        ) : errors[name] ? (
          <div key={name} className="jp-JupyterTracker-notice" role="alert">
            Cannot load the steps of {truncate(name, 80)}: {errors[name]}
          </div>
        ) : (
          <div key={name} className="jp-JupyterTracker-muted">
            Loading {truncate(name, 80)}…
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
