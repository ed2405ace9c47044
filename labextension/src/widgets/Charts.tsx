/**
 * Plain charts: a metric's final value across runs (bars) and step series (SVG lines).
 *
 * NaN and ±∞ cannot be drawn (issue 13): a bar of one is its value as text (∞, −∞, NaN) with no
 * bar, and a line chart says how many points it left out. Labels are HTML, cut with an ellipsis
 * and whole on hover, so a long run name is never clipped by the SVG nor drawn over its neighbour.
 */
import * as React from 'react';

import { formatNumber, isDrawable, MISSING, runColour, truncate } from './format';
import { Clip, RunName } from './Text';

// Characters of a chart's name in its accessible name ("Chart of …"); the caption has it whole.
const NAME_CHARS = 80;

export interface IBar {
  label: string;
  /** A run's short id, shown after the label and never cut. */
  id?: string;
  /** The full label, shown on hover (the label may be shortened). */
  title?: string;
  value: number | null; // null: the run has no such metric; NaN and ±∞ are shown, not drawn
  colour: string;
}

/** Horizontal bars, one per run, with zero as the baseline when the values straddle it. */
export function BarChart(props: { title: string; bars: IBar[] }): JSX.Element {
  const { title, bars } = props;
  const values = bars.map(b => b.value).filter(isDrawable);
  const low = Math.min(0, ...values);
  const high = Math.max(0, ...values);
  const span = high - low || 1;
  const x = (v: number) => ((v - low) / span) * 100; // percent of the track
  return (
    <figure className="jp-JupyterTracker-chart" aria-label={`Chart of ${truncate(title, NAME_CHARS)}`}>
      <figcaption>
        <Clip text={title} />
      </figcaption>
      <table className="jp-JupyterTracker-bars">
        <tbody>
          {bars.map((bar, index) => {
            const drawn = isDrawable(bar.value);
            const text = bar.value === null ? MISSING : formatNumber(bar.value);
            const hover = bar.title ?? (bar.id ? `${bar.label} ${bar.id}` : bar.label);
            return (
              <tr key={index}>
                <th scope="row" className="jp-JupyterTracker-chartLabel">
                  <RunName name={bar.label} id={bar.id} title={hover} />
                </th>
                <td>
                  <div className="jp-JupyterTracker-barTrack" data-bar="">
                    <span className="jp-JupyterTracker-barZero" style={{ left: `${x(0)}%` }} />
                    {drawn && (
                      <span
                        className="jp-JupyterTracker-bar"
                        style={{
                          left: `${Math.min(x(0), x(bar.value!))}%`,
                          width: `max(1px, ${Math.abs(x(bar.value!) - x(0))}%)`,
                          background: bar.colour
                        }}
                        title={`${hover}: ${text}`}
                      />
                    )}
                  </div>
                </td>
                <td
                  className="jp-JupyterTracker-chartValue"
                  title={drawn || bar.value === null ? undefined : `${text}: not drawn`}
                >
                  {text}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </figure>
  );
}

export interface ISeries {
  label: string;
  /** A run's short id, shown after the label and never cut. */
  id?: string;
  /** The full label, shown on hover (the label may be shortened). */
  title?: string;
  colour: string;
  steps: (number | null)[];
  /** Parsed values (parseMetric): NaN and ±∞ are counted, not drawn. */
  values: number[];
}

const LINE_WIDTH = 420;
const LINE_HEIGHT = 200;
// Room on the left for the widest number formatNumber writes (`-1.23457e+300`, 13 characters at 11 px).
const PAD = { left: 80, right: 12, top: 10, bottom: 28 };
const MAX_POINTS = 1500; // more points than pixels draw nothing more, only slower

/**
 * One line per run over the steps (the point's position when a run logged no steps). Points
 * that are NaN or ±∞ are left out, and the chart says how many.
 */
export function LineChart(props: { title: string; subtitle?: string; series: ISeries[] }): JSX.Element {
  const { title, subtitle, series } = props;
  const prepared = series.map(s => ({ ...s, ...points(s) }));
  const all = prepared.flatMap(s => s.points);
  const name = `${truncate(title, NAME_CHARS)}${subtitle ? ` ${subtitle}` : ''}`;
  const caption = (
    <figcaption>
      <Clip text={title} />
      {subtitle && (
        <>
          {' '}
          <span>{subtitle}</span>
        </>
      )}
    </figcaption>
  );
  const note = <LeftOutNote series={prepared} />;
  if (all.length === 0) {
    return (
      <figure className="jp-JupyterTracker-chart" aria-label={`Chart of ${name}`}>
        {caption}
        <div className="jp-JupyterTracker-muted">no finite values to draw</div>
        {note}
      </figure>
    );
  }
  const [x0, x1] = extent(all.map(p => p[0]));
  const [y0, y1] = extent(all.map(p => p[1]));
  const plotW = LINE_WIDTH - PAD.left - PAD.right;
  const plotH = LINE_HEIGHT - PAD.top - PAD.bottom;
  const sx = (v: number) => PAD.left + ((v - x0) / (x1 - x0 || 1)) * plotW;
  const sy = (v: number) => PAD.top + plotH - ((v - y0) / (y1 - y0 || 1)) * plotH;
  return (
    <figure className="jp-JupyterTracker-chart" aria-label={`Chart of ${name}`}>
      {caption}
      <svg
        width={LINE_WIDTH}
        height={LINE_HEIGHT}
        viewBox={`0 0 ${LINE_WIDTH} ${LINE_HEIGHT}`}
        role="img"
        aria-label={`${truncate(title, NAME_CHARS)} by step`}>
        <line x1={PAD.left} x2={PAD.left} y1={PAD.top} y2={PAD.top + plotH} className="jp-JupyterTracker-axis" />
        <line
          x1={PAD.left}
          x2={PAD.left + plotW}
          y1={PAD.top + plotH}
          y2={PAD.top + plotH}
          className="jp-JupyterTracker-axis"
        />
        <text x={PAD.left - 4} y={PAD.top + 8} textAnchor="end" className="jp-JupyterTracker-chartLabel">
          {formatNumber(y1)}
        </text>
        <text x={PAD.left - 4} y={PAD.top + plotH} textAnchor="end" className="jp-JupyterTracker-chartLabel">
          {formatNumber(y0)}
        </text>
        <text x={PAD.left} y={LINE_HEIGHT - 8} className="jp-JupyterTracker-chartLabel">
          {formatNumber(x0)}
        </text>
        <text x={PAD.left + plotW} y={LINE_HEIGHT - 8} textAnchor="end" className="jp-JupyterTracker-chartLabel">
          {`step ${formatNumber(x1)}`}
        </text>
        {prepared.map((s, index) => (
          <polyline
            key={index}
            fill="none"
            stroke={s.colour}
            strokeWidth={1.5}
            points={thin(s.points)
              .map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
              .join(' ')}
          >
            <title>{s.title ?? s.label}</title>
          </polyline>
        ))}
      </svg>
      {note}
      <Legend items={series.map(s => ({ label: s.label, id: s.id, title: s.title, colour: s.colour }))} />
    </figure>
  );
}

export function Legend(props: {
  items: { label: string; id?: string; title?: string; colour: string }[];
}): JSX.Element {
  return (
    <ul className="jp-JupyterTracker-legend">
      {props.items.map((item, index) => (
        <li key={index}>
          <span className="jp-JupyterTracker-swatch" style={{ background: item.colour }} />
          <RunName name={item.label} id={item.id} title={item.title} />
        </li>
      ))}
    </ul>
  );
}

interface ILeftOut {
  nan: number;
  inf: number;
  negInf: number;
}

/** How many points of the series a chart left out (NaN, ±∞), each series' count on hover; nothing when none. */
export function LeftOutNote(props: {
  series: (Pick<ISeries, 'label' | 'title' | 'values'> & { points: unknown[]; left: ILeftOut })[];
}): JSX.Element | null {
  const left = props.series.reduce((sum, s) => sum + s.left.nan + s.left.inf + s.left.negInf, 0);
  if (left === 0) {
    return null;
  }
  return (
    <div
      className="jp-JupyterTracker-muted jp-JupyterTracker-chartNote"
      title={props.series
        .filter(s => s.points.length < s.values.length)
        .map(s => `${s.title ?? s.label}: ${leftOutText(s.left)}`)
        .join('\n')}
    >
      {left} point{left === 1 ? '' : 's'} not shown (NaN or ±∞)
    </div>
  );
}

/** `2 NaN, 1 ∞`: the points of a series a chart left out. */
export function leftOutText(left: ILeftOut): string {
  const kinds: [number, string][] = [
    [left.nan, 'NaN'],
    [left.inf, '∞'],
    [left.negInf, '−∞']
  ];
  return kinds
    .filter(([count]) => count > 0)
    .map(([count, what]) => `${count} ${what}`)
    .join(', ');
}

/** The drawable points of a series, and how many of each kind it has that cannot be drawn. */
export function points(series: Pick<ISeries, 'steps' | 'values'>): { points: [number, number][]; left: ILeftOut } {
  const result: [number, number][] = [];
  const left = { nan: 0, inf: 0, negInf: 0 };
  series.values.forEach((value, index) => {
    const step = series.steps[index];
    if (isDrawable(value)) {
      result.push([isDrawable(step) ? step : index, value]);
    } else if (value === Infinity) {
      left.inf += 1;
    } else if (value === -Infinity) {
      left.negInf += 1;
    } else {
      left.nan += 1;
    }
  });
  return { points: result, left };
}

/** Lowest and highest, without spreading thousands of arguments into Math.min. */
function extent(values: number[]): [number, number] {
  let low = Infinity;
  let high = -Infinity;
  for (const value of values) {
    low = Math.min(low, value);
    high = Math.max(high, value);
  }
  return [low, high];
}

function thin(values: [number, number][]): [number, number][] {
  if (values.length <= MAX_POINTS) {
    return values;
  }
  const stride = values.length / MAX_POINTS;
  const kept: [number, number][] = [];
  for (let i = 0; i < MAX_POINTS; i++) {
    kept.push(values[Math.floor(i * stride)]);
  }
  kept.push(values[values.length - 1]);
  return kept;
}

export { runColour };
