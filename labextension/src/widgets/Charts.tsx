/**
 * Plain SVG charts: a metric's final value across runs (bars) and step series (lines).
 */
import * as React from 'react';

import { formatNumber, runColour } from './format';

const WIDTH = 300;
const ROW = 22;
const LABEL = 100;

export interface IBar {
  label: string;
  value: number | null; // null: the run has no finite value
  colour: string;
}

/** Horizontal bars, one per run, with zero as the baseline when the values straddle it. */
export function BarChart(props: { title: string; bars: IBar[] }): JSX.Element {
  const { title, bars } = props;
  const values = bars.map(b => b.value).filter((v): v is number => v !== null);
  const low = Math.min(0, ...values);
  const high = Math.max(0, ...values);
  const span = high - low || 1;
  const plot = WIDTH - LABEL - 64;
  const x = (v: number) => LABEL + ((v - low) / span) * plot;
  const height = bars.length * ROW + 8;
  return (
    <figure className="jp-JupyterTracker-chart" aria-label={`Chart of ${title}`}>
      <figcaption>{title}</figcaption>
      <svg width={WIDTH} height={height} role="img" aria-label={`${title} across runs`}>
        {bars.map((bar, index) => {
          const y = 4 + index * ROW;
          const start = bar.value === null ? x(0) : Math.min(x(0), x(bar.value));
          const width = bar.value === null ? 0 : Math.max(1, Math.abs(x(bar.value) - x(0)));
          return (
            <g key={index}>
              <text x={LABEL - 6} y={y + 14} textAnchor="end" className="jp-JupyterTracker-chartLabel">
                {bar.label}
              </text>
              <rect x={start} y={y + 3} width={width} height={ROW - 8} fill={bar.colour}>
                <title>{`${bar.label}: ${bar.value === null ? 'no value' : bar.value}`}</title>
              </rect>
              <text
                x={(bar.value === null ? x(0) : Math.max(x(0), x(bar.value))) + 4}
                y={y + 14}
                className="jp-JupyterTracker-chartValue"
              >
                {bar.value === null ? '—' : formatNumber(bar.value)}
              </text>
            </g>
          );
        })}
        <line x1={x(0)} x2={x(0)} y1={0} y2={height} className="jp-JupyterTracker-axis" />
      </svg>
    </figure>
  );
}

export interface ISeries {
  label: string;
  colour: string;
  steps: (number | null)[];
  values: (number | null)[];
}

const LINE_WIDTH = 420;
const LINE_HEIGHT = 200;
const PAD = { left: 56, right: 12, top: 10, bottom: 28 };
const MAX_POINTS = 1500; // more points than pixels draw nothing more, only slower

/** One line per run over the steps (the point's position when a run logged no steps). */
export function LineChart(props: { title: string; series: ISeries[] }): JSX.Element {
  const { title, series } = props;
  const prepared = series.map(s => ({ ...s, points: thin(points(s)) }));
  const all = prepared.flatMap(s => s.points);
  if (all.length === 0) {
    return (
      <figure className="jp-JupyterTracker-chart" aria-label={`Chart of ${title}`}>
        <figcaption>{title}</figcaption>
        <div className="jp-JupyterTracker-muted">no finite values to draw</div>
      </figure>
    );
  }
  const xs = all.map(p => p[0]);
  const ys = all.map(p => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const plotW = LINE_WIDTH - PAD.left - PAD.right;
  const plotH = LINE_HEIGHT - PAD.top - PAD.bottom;
  const sx = (v: number) => PAD.left + ((v - x0) / (x1 - x0 || 1)) * plotW;
  const sy = (v: number) => PAD.top + plotH - ((v - y0) / (y1 - y0 || 1)) * plotH;
  return (
    <figure className="jp-JupyterTracker-chart" aria-label={`Chart of ${title}`}>
      <figcaption>{title}</figcaption>
      <svg width={LINE_WIDTH} height={LINE_HEIGHT} role="img" aria-label={`${title} by step`}>
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
            points={s.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}
          >
            <title>{s.label}</title>
          </polyline>
        ))}
      </svg>
      <Legend items={series.map(s => ({ label: s.label, colour: s.colour }))} />
    </figure>
  );
}

export function Legend(props: { items: { label: string; colour: string }[] }): JSX.Element {
  return (
    <ul className="jp-JupyterTracker-legend">
      {props.items.map((item, index) => (
        <li key={index}>
          <span className="jp-JupyterTracker-swatch" style={{ background: item.colour }} />
          {item.label}
        </li>
      ))}
    </ul>
  );
}

function points(series: ISeries): [number, number][] {
  const result: [number, number][] = [];
  series.values.forEach((value, index) => {
    const step = series.steps[index];
    if (value !== null && Number.isFinite(value)) {
      result.push([step === null || step === undefined ? index : step, value]);
    }
  });
  return result;
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
