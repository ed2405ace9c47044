/**
 * Charts of what the runs table shows (issue 14): parallel coordinates from params to a metric
 * (drag on an axis to brush a range: it filters the table), a scatter of any column against any
 * other coloured by a param, and the step series of a metric for the selected runs, or a mean line
 * with a min–max band per group when the table is grouped.
 *
 * They draw up to CHART_ROWS rows of the table's query (fetched CHART_PAGE at a time). Every
 * label is SVG text or a <title>: a run name holding markup shows as text. A label too long for
 * its place is cut with an ellipsis and whole in its <title>. Scales, ticks and colours are the
 * pure functions of ../charts.ts: integer ticks for integer values, a few values ticked as
 * themselves, lines coloured by their metric, and a colour per group that follows its key.
 */
import * as React from 'react';

import {
  brushExtent,
  brushOf,
  brushSpan,
  categoryOf,
  CHAR_PX_BOLD,
  coverTicks,
  FEW_VALUES,
  fitText,
  IScale,
  Key,
  keyText,
  makeScale,
  niceDomain,
  niceTicks,
  SEQUENTIAL,
  sequentialColour,
  sortedKeys,
  spaceTicks,
  stableColours,
  thinPoints
} from '../charts';
import { fetchMetricSeries, IRunGroup, ITableColumn, ITableRow, JSONValue } from '../request';
import { Brush, brushLabel, CHART_ROWS, IChartRows, MAX_SERIES_RUNS, stepStats, TableModel } from '../table';
import { ISeries, LeftOutNote, Legend, points as drawablePoints } from './Charts';
import { formatNumber, formatValue, parseMetric, RUN_COLOURS, runColour, shortId, truncate } from './format';
import type { RunsTableWidget } from './RunsTable';

const LABEL_CHARS = 14; // of a category or axis name drawn in a chart; the <title> holds it whole
const MAX_AXES = 8;
const MAX_COLOURS = RUN_COLOURS.length; // categories of the colour param with their own colour; the rest are grey
const OTHER = '#999999';
export const MAX_GROUP_BANDS = 8;
const TICK_PX = 6.2; // about the width of a character of a 10 px tick label
const TICK_HEIGHT = 11; // room a tick label needs along a vertical axis

export { brushOf, makeScale };
export type { IScale };

function valueOf(row: ITableRow, column: string): JSONValue | undefined {
  return Object.prototype.hasOwnProperty.call(row.values, column) ? row.values[column] : undefined;
}

function rowName(row: ITableRow): string {
  const name = row.values.name;
  return typeof name === 'string' ? name : '';
}

function describe(row: ITableRow, columns: string[]): string {
  const values = columns.map(c => `${c} = ${formatValue(valueOf(row, c), 60)}`);
  return [`${shortId(row.run_id)} ${rowName(row)}`, ...values].join('\n');
}

// ------------------------------------------------------------------------------- the panel
export function TableCharts(props: { view: RunsTableWidget }): JSX.Element {
  const { view } = props;
  const table = view.table;
  const [, setTick] = React.useState(0);
  const [shown, setShown] = React.useState(view.chartsShown);
  const [query, setQuery] = React.useState(0); // bumped when the table's rows change
  const [data, setData] = React.useState<IChartRows | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const columns = table.allColumns;
  const params = columns.filter(c => c.kind === 'param');
  const metrics = columns.filter(c => c.kind === 'metric');
  const numbers = columns.filter(c => c.kind !== 'tag' && c.name !== 'name' && c.name !== 'status' && c.name !== 'experiment');
  const varying = (list: ITableColumn[]) => {
    const v = list.filter(c => !c.constant);
    return v.length > 0 ? v : list;
  };
  const [axes, setAxes] = React.useState<string[] | null>(null);
  const [metric, setMetric] = React.useState<string | null>(null);
  const [x, setX] = React.useState<string | null>(null);
  const [y, setY] = React.useState<string | null>(null);
  const [colour, setColour] = React.useState<string | null>(null);
  // Each axis's values before it was brushed: a brushed axis keeps its scale, so the brushed range
  // is drawn where it was dragged (the rows charted after the brush are only the brushed ones).
  const before = React.useRef(new Map<string, JSONValue[]>());
  const chosenAxes = (axes ?? varying(params).slice(0, 5).map(c => c.name)).filter(a => columns.some(c => c.name === a));
  const chosenMetric = metric ?? varying(metrics)[0]?.name ?? null;
  const chosenX = x ?? varying(params)[0]?.name ?? numbers[0]?.name ?? null;
  const chosenY = y ?? chosenMetric;
  const chosenColour = colour ?? varying(params)[1]?.name ?? '';

  React.useEffect(() => {
    const onToggle = () => setShown(view.chartsShown);
    const onQuery = () => setQuery(q => q + 1);
    const onChanged = () => setTick(t => t + 1);
    view.chartsToggled.connect(onToggle);
    table.queryChanged.connect(onQuery);
    table.changed.connect(onChanged);
    return () => {
      view.chartsToggled.disconnect(onToggle);
      table.queryChanged.disconnect(onQuery);
      table.changed.disconnect(onChanged);
    };
  }, [view, table]);

  const needed = [...new Set([...chosenAxes, chosenMetric, chosenX, chosenY, chosenColour].filter((c): c is string => !!c))];
  const key = needed.join('\n');
  React.useEffect(() => {
    if (!shown || table.groupBy.length > 0 || needed.length === 0) {
      return;
    }
    let cancelled = false;
    table.chartRows(needed).then(
      rows => {
        if (!cancelled) {
          setData(rows);
          setError(null);
        }
      },
      reason => !cancelled && setError((reason as Error).message)
    );
    return () => {
      cancelled = true;
    };
  }, [shown, query, key, table.groupBy.join(',')]);

  if (!shown) {
    return <div />;
  }
  const grouped = table.groupBy.length > 0;
  return (
    <section className="jp-JupyterTracker-chartsPanel" aria-label="Table charts">
      {error && (
        <div className="jp-JupyterTracker-notice" role="alert">
          {error}
        </div>
      )}
      {!grouped && data && (
        <div className="jp-JupyterTracker-muted" role="status" aria-label="Charted runs">
          {data.total > data.rows.length
            ? `showing ${data.rows.length.toLocaleString('en')} of ${data.total.toLocaleString('en')} runs`
            : `${data.rows.length.toLocaleString('en')} run${data.rows.length === 1 ? '' : 's'}`}
        </div>
      )}
      {grouped && (
        <div className="jp-JupyterTracker-muted">
          The table is grouped: the step series show a mean line and a min–max band per group.
        </div>
      )}
      <div className="jp-JupyterTracker-chartRow">
        {!grouped && (
          <figure className="jp-JupyterTracker-chart" aria-label="Parallel coordinates">
            <figcaption>Parallel coordinates</figcaption>
            <div className="jp-JupyterTracker-chartControls">
              <AxisPicker
                params={params}
                chosen={chosenAxes}
                onChange={setAxes}
              />
              <ColumnSelect label="Metric axis" columns={metrics} value={chosenMetric ?? ''} onChange={setMetric} />
            </div>
            {data && (
              <ParallelCoordinates
                rows={data.rows}
                axes={[...chosenAxes.filter(a => a !== chosenMetric), ...(chosenMetric ? [chosenMetric] : [])]}
                brushes={table.brushes}
                onBrush={(brush, column) => {
                  // The axes shown stay: a brushed param can turn constant in the rows left, and a
                  // default choice of axes (the varying params) would drop it, with its brush.
                  setAxes(chosenAxes);
                  if (chosenMetric) {
                    setMetric(chosenMetric);
                  }
                  void table.setBrush(brush, column);
                }}
                colourBy={chosenMetric}
                before={before.current}
              />
            )}
          </figure>
        )}
        {!grouped && (
          <figure className="jp-JupyterTracker-chart" aria-label="Scatter">
            <figcaption>Scatter</figcaption>
            <div className="jp-JupyterTracker-chartControls">
              <ColumnSelect label="Scatter x" columns={numbers} value={chosenX ?? ''} onChange={setX} />
              <ColumnSelect label="Scatter y" columns={numbers} value={chosenY ?? ''} onChange={setY} />
              <ColumnSelect label="Colour by" columns={params} value={chosenColour} onChange={setColour} none="none" />
            </div>
            {data && chosenX && chosenY && (
              <Scatter rows={data.rows} x={chosenX} y={chosenY} colour={chosenColour || null} />
            )}
          </figure>
        )}
        <StepSeries table={table} metrics={metrics} query={query} />
      </div>
    </section>
  );
}

function ColumnSelect(props: {
  label: string;
  columns: ITableColumn[];
  value: string;
  onChange: (value: string) => void;
  none?: string;
}): JSX.Element {
  const { label, columns, value, onChange, none } = props;
  return (
    <label>
      {label}{' '}
      <select aria-label={label} value={value} onChange={event => onChange(event.target.value)}>
        {none !== undefined && <option value="">{none}</option>}
        {columns.map(c => (
          <option key={c.name} value={c.name} title={c.name}>
            {truncate(c.name, 40)}
          </option>
        ))}
      </select>
    </label>
  );
}

function AxisPicker(props: { params: ITableColumn[]; chosen: string[]; onChange: (axes: string[]) => void }): JSX.Element {
  const { params, chosen, onChange } = props;
  return (
    <details className="jp-JupyterTracker-axisPicker">
      <summary>Param axes ({chosen.length})</summary>
      <ul aria-label="Param axes">
        {params.map(p => (
          <li key={p.name}>
            <label title={p.name}>
              <input
                type="checkbox"
                aria-label={`Axis ${truncate(p.name, 80)}`}
                checked={chosen.includes(p.name)}
                disabled={!chosen.includes(p.name) && chosen.length >= MAX_AXES}
                onChange={event =>
                  onChange(event.target.checked ? [...chosen, p.name] : chosen.filter(a => a !== p.name))
                }
              />{' '}
              {truncate(p.name, 40)}
            </label>
          </li>
        ))}
      </ul>
    </details>
  );
}

// ------------------------------------------------------------------ parallel coordinates
// left: room for a tick label (14 characters of a category) left of the first axis.
const PC = { height: 270, top: 16, bottom: 42, gap: 130, left: 104, right: 70 };
const PC_LABEL = 12; // tick labels end this far left of their axis: clear of the brush (±7)

/** The distinct values of a column (what a brushed axis keeps of its scale). */
function distinct(values: (JSONValue | undefined)[]): JSONValue[] {
  const seen = new Map<string, JSONValue>();
  for (const v of values) {
    if (v !== undefined && v !== null) {
      seen.set(typeof v === 'number' ? `n${v}` : `s${categoryOf(v)}`, v);
    }
  }
  return [...seen.values()];
}

function ParallelCoordinates(props: {
  rows: ITableRow[];
  axes: string[];
  brushes: Brush[];
  onBrush: (brush: Brush | null, column: string) => void;
  /** The metric the lines are coloured by (the last axis). */
  colourBy: string | null;
  /** Each axis's values when it was last drawn unbrushed (written here). */
  before: Map<string, JSONValue[]>;
}): JSX.Element {
  const { rows, axes, brushes, onBrush, colourBy, before } = props;
  const [drag, setDrag] = React.useState<{ axis: number; from: number; to: number } | null>(null);
  const svgRef = React.useRef<SVGSVGElement>(null);
  if (axes.length < 2) {
    return <div className="jp-JupyterTracker-muted">Choose at least one param axis and a metric.</div>;
  }
  const scales = axes.map(axis => {
    const values = rows.map(r => valueOf(r, axis));
    const brush = brushes.find(b => b.column === axis);
    if (!brush) {
      before.set(axis, distinct(values));
    }
    // A brushed axis keeps the values it had and the brush's own range: the rows are now only the brushed ones.
    const kept = brush ? (before.get(axis) ?? []) : [];
    return makeScale([...values, ...kept], { few: FEW_VALUES, nice: true, extend: brush ? brushExtent(brush) : [] });
  });
  const plotH = PC.height - PC.top - PC.bottom;
  const width = PC.left + PC.right + PC.gap * (axes.length - 1);
  const ax = (i: number) => PC.left + i * PC.gap;
  const ay = (p: number) => PC.top + plotH - p * plotH;
  const toPosition = (clientY: number) => {
    const box = svgRef.current!.getBoundingClientRect();
    const zoom = box.height > 0 ? box.height / PC.height : 1; // a narrow main area draws the chart smaller
    return Math.min(1, Math.max(0, (PC.top + plotH - (clientY - box.top) / zoom) / plotH));
  };
  const colourAxis = colourBy ? axes.indexOf(colourBy) : -1;
  const colourScale = colourAxis >= 0 ? scales[colourAxis] : null;
  let left = 0;
  const drawn: { at: number; line: JSX.Element }[] = [];
  rows.forEach((row, index) => {
    const positions = scales.map((scale, i) => scale.at(valueOf(row, axes[i])));
    if (positions.some(p => p === null)) {
      left += 1;
      return;
    }
    const at = colourAxis >= 0 ? positions[colourAxis]! : 0.5;
    drawn.push({
      at,
      line: (
        <polyline
          key={index}
          className="jp-JupyterTracker-pcLine"
          data-run-id={row.run_id}
          style={colourScale ? { stroke: sequentialColour(at) } : undefined}
          points={positions.map((p, i) => `${ax(i)},${ay(p!).toFixed(1)}`).join(' ')}
        >
          <title>{describe(row, axes)}</title>
        </polyline>
      )
    });
  });
  // The highest values drawn last, on top: the best (or worst) runs stay visible.
  const lines = drawn.sort((a, b) => a.at - b.at).map(d => d.line);
  const legend = colourScale && colourBy && (
    <div className="jp-JupyterTracker-colourScale" aria-label="Line colours">
      <span className="jp-JupyterTracker-legendTitle" title={colourBy}>
        {truncate(colourBy.replace(/^metrics\./, ''), 40)}
      </span>
      <span className="jp-JupyterTracker-chartLabel" title={scaleEnd(colourScale, 0)}>{truncate(scaleEnd(colourScale, 0), 16)}</span>
      <span className="jp-JupyterTracker-gradient" style={{ background: `linear-gradient(to right, ${SEQUENTIAL.join(', ')})` }} />
      <span className="jp-JupyterTracker-chartLabel" title={scaleEnd(colourScale, 1)}>{truncate(scaleEnd(colourScale, 1), 16)}</span>
    </div>
  );
  return (
    <>
      <svg
        ref={svgRef}
        width={width}
        height={PC.height}
        viewBox={`0 0 ${width} ${PC.height}`}
        role="img"
        aria-label={`Parallel coordinates of ${axes.length} axes`}
        onMouseMove={event => drag && setDrag({ ...drag, to: toPosition(event.clientY) })}
        onMouseUp={() => {
          if (!drag) {
            return;
          }
          const column = axes[drag.axis];
          // A click without a drag clears the axis's brush.
          const brush = Math.abs(drag.to - drag.from) < 0.01 ? null : brushOf(column, scales[drag.axis], drag.from, drag.to);
          setDrag(null);
          onBrush(brush, column);
        }}
        onMouseLeave={() => setDrag(null)}
      >
        <g className="jp-JupyterTracker-pcLines">{lines}</g>
        {axes.map((axis, i) => {
          const scale = scales[i];
          const brush = brushes.find(b => b.column === axis);
          const span = brush ? brushSpan(brush, scale) : null;
          const kept = spaceTicks(scale.ticks.map(([p]) => ay(p)), () => TICK_HEIGHT, 1);
          const room = (i === 0 ? PC.left : PC.gap) - PC_LABEL - 4;
          const name = axis.replace(/^(params|metrics)\./, '');
          return (
            <g key={axis} className="jp-JupyterTracker-pcAxis" data-axis={axis} data-kind={scale.kind} data-integer={String(scale.integer)} aria-label={`Axis ${axis}`}>
              <line x1={ax(i)} x2={ax(i)} y1={PC.top} y2={PC.top + plotH} className="jp-JupyterTracker-axis" />
              {span && <BrushBand axis={axis} x={ax(i)} top={ay(span[1])} bottom={ay(span[0])} />}
              {kept.map(t => {
                const [p, label, full] = scale.ticks[t];
                return (
                  <g key={t}>
                    <line x1={ax(i) - 4} x2={ax(i)} y1={ay(p)} y2={ay(p)} className="jp-JupyterTracker-axis" />
                    <g>
                      <title>{full}</title>
                      <text x={ax(i) - PC_LABEL} y={ay(p) + 3} textAnchor="end" className="jp-JupyterTracker-chartLabel jp-JupyterTracker-tick">
                        {scale.kind === 'category' ? fitText(label, room) : label}
                      </text>
                    </g>
                  </g>
                );
              })}
              <g>
                <title>{axis}</title>
                <text x={ax(i)} y={PC.height - 22} textAnchor="middle" className="jp-JupyterTracker-chartLabel jp-JupyterTracker-axisName">
                  {truncate(name, Math.min(LABEL_CHARS + 4, Math.floor((PC.gap - 8) / CHAR_PX_BOLD)))}
                </text>
              </g>
              {brush && (
                <g
                  className="jp-JupyterTracker-brushClear"
                  role="button"
                  tabIndex={0}
                  aria-label={`Clear the brush on ${truncate(axis, 80)}`}
                  onClick={() => onBrush(null, axis)}
                  onKeyDown={event => {
                    if (event.key === 'Enter' || event.key === ' ') {
                      event.preventDefault();
                      onBrush(null, axis);
                    }
                  }}
                >
                  <title>{`Brushed: ${brushLabel(brush)}. Click to clear.`}</title>
                  <text x={ax(i)} y={PC.height - 6} textAnchor="middle" className="jp-JupyterTracker-chartLabel">
                    brushed ×
                  </text>
                </g>
              )}
              {drag && drag.axis === i && (
                <rect
                  className="jp-JupyterTracker-brush"
                  x={ax(i) - 7}
                  width={14}
                  y={ay(Math.max(drag.from, drag.to))}
                  height={Math.abs(drag.to - drag.from) * plotH}
                />
              )}
              <rect
                className="jp-JupyterTracker-brushTarget"
                data-brush-axis={axis}
                x={ax(i) - 9}
                width={18}
                y={PC.top}
                height={plotH}
                onMouseDown={event => {
                  event.preventDefault();
                  const p = toPosition(event.clientY);
                  setDrag({ axis: i, from: p, to: p });
                }}
              >
                <title>
                  {brush
                    ? `Brushed: ${brushLabel(brush)}. Drag along ${axis} for another range; click to clear`
                    : `Drag along ${axis} to filter the table to a range; click to clear`}
                </title>
              </rect>
            </g>
          );
        })}
      </svg>
      {legend}
      {left > 0 && (
        <div className="jp-JupyterTracker-muted">
          {left} run{left === 1 ? '' : 's'} not drawn (a value missing, NaN or ±∞)
        </div>
      )}
    </>
  );
}

/** A brushed range on its axis, from y `top` to `bottom`: at least 10 px tall, so a single value shows. */
function BrushBand(props: { axis: string; x: number; top: number; bottom: number }): JSX.Element {
  const { axis, x } = props;
  const middle = (props.top + props.bottom) / 2;
  const half = Math.max(5, (props.bottom - props.top) / 2);
  return <rect className="jp-JupyterTracker-brushBand" data-brushed={axis} x={x - 6} width={12} y={middle - half} height={2 * half} />;
}

/** The value at an end (0 or 1) of a scale, as text: for a colour legend. */
function scaleEnd(scale: IScale, end: 0 | 1): string {
  if (scale.kind === 'number') {
    return formatNumber(end === 0 ? scale.low : scale.high);
  }
  return (end === 0 ? scale.categories[0] : scale.categories[scale.categories.length - 1]) ?? '';
}

/** Labels of a horizontal axis that do not overlap: the indices of the ticks to draw. */
function spaceAcross(ticks: [number, string, string][], px: (p: number) => number): number[] {
  return spaceTicks(
    ticks.map(([p]) => px(p)),
    i => ticks[i][1].length * TICK_PX,
    6
  );
}

// ------------------------------------------------------------------------------- scatter
const SC = { width: 440, height: 300, left: 96, right: 16, top: 12, bottom: 44 };
const PAD = 0.05; // of a scatter's span at each end: no point sits on an axis line

/** The colours of a param's values: by their sorted order (stableColours), the ninth on grey. */
function categoryColours(values: (JSONValue | undefined)[]): { keys: Key[]; colour: (value: JSONValue | undefined) => string } {
  const keys = sortedKeys(values.map(v => [v === undefined ? null : v]));
  const index = new Map(keys.map((k, i) => [keyText(k), i]));
  return {
    keys,
    colour: value => {
      const i = index.get(keyText([value === undefined ? null : value])) ?? MAX_COLOURS;
      return i < MAX_COLOURS ? RUN_COLOURS[i] : OTHER;
    }
  };
}

function Scatter(props: { rows: ITableRow[]; x: string; y: string; colour: string | null }): JSX.Element {
  const { rows, x, y, colour } = props;
  const sx = makeScale(rows.map(r => valueOf(r, x)), { pad: PAD });
  const sy = makeScale(rows.map(r => valueOf(r, y)), { pad: PAD });
  const colours = colour ? categoryColours(rows.map(r => valueOf(r, colour))) : null;
  const colourOf = (row: ITableRow) => (colours && colour ? colours.colour(valueOf(row, colour)) : runColour(0));
  const plotW = SC.width - SC.left - SC.right;
  const plotH = SC.height - SC.top - SC.bottom;
  const px = (p: number) => SC.left + p * plotW;
  const py = (p: number) => SC.top + plotH - p * plotH;
  let left = 0;
  const points: JSX.Element[] = [];
  rows.forEach((row, index) => {
    const a = sx.at(valueOf(row, x));
    const b = sy.at(valueOf(row, y));
    if (a === null || b === null) {
      left += 1;
      return;
    }
    points.push(
      <circle
        key={index}
        className="jp-JupyterTracker-point"
        data-run-id={row.run_id}
        cx={px(a).toFixed(1)}
        cy={py(b).toFixed(1)}
        r={3.5}
        fill={colourOf(row)}
      >
        <title>{describe(row, [x, y, ...(colour ? [colour] : [])])}</title>
      </circle>
    );
  });
  // A category on the y axis is cut to the room left of the axis (the axis title takes 20 px).
  const yRoom = SC.left - 5 - 24;
  const xTicks = sx.ticks.map(([p, label, full]) => [p, sx.kind === 'category' ? truncate(label, 10) : label, full] as [number, string, string]);
  return (
    <>
      <svg width={SC.width} height={SC.height} viewBox={`0 0 ${SC.width} ${SC.height}`} role="img" aria-label={`Scatter of ${y} against ${x}`}>
        <line x1={SC.left} x2={SC.left} y1={SC.top} y2={SC.top + plotH} className="jp-JupyterTracker-axis" />
        <line x1={SC.left} x2={SC.left + plotW} y1={SC.top + plotH} y2={SC.top + plotH} className="jp-JupyterTracker-axis" />
        {spaceAcross(xTicks, px).map(i => {
          const [p, label, full] = xTicks[i];
          return (
            <g key={`x${i}`} data-tick="x">
              <title>{full}</title>
              <line x1={px(p)} x2={px(p)} y1={SC.top + plotH} y2={SC.top + plotH + 3} className="jp-JupyterTracker-axis" />
              <text x={px(p)} y={SC.top + plotH + 14} textAnchor="middle" className="jp-JupyterTracker-chartLabel jp-JupyterTracker-tick">{label}</text>
            </g>
          );
        })}
        {spaceTicks(sy.ticks.map(([p]) => py(p)), () => TICK_HEIGHT, 1).map(i => {
          const [p, label, full] = sy.ticks[i];
          return (
            <g key={`y${i}`} data-tick="y">
              <title>{full}</title>
              <line x1={SC.left - 3} x2={SC.left} y1={py(p)} y2={py(p)} className="jp-JupyterTracker-axis" />
              <text x={SC.left - 5} y={py(p) + 3} textAnchor="end" className="jp-JupyterTracker-chartLabel jp-JupyterTracker-tick">
                {sy.kind === 'category' ? truncate(label, Math.floor(yRoom / TICK_PX)) : label}
              </text>
            </g>
          );
        })}
        <g>
          <title>{x}</title>
          <text x={SC.left + plotW / 2} y={SC.height - 8} textAnchor="middle" className="jp-JupyterTracker-chartLabel jp-JupyterTracker-axisTitle" data-axis-title="x">
            {fitText(x, plotW, CHAR_PX_BOLD)}
          </text>
        </g>
        <g>
          <title>{y}</title>
          <text x={13} y={SC.top + plotH / 2} textAnchor="middle" transform={`rotate(-90 13 ${SC.top + plotH / 2})`} className="jp-JupyterTracker-chartLabel jp-JupyterTracker-axisTitle" data-axis-title="y">
            {fitText(y, plotH, CHAR_PX_BOLD)}
          </text>
        </g>
        <g>{points}</g>
      </svg>
      {left > 0 && <div className="jp-JupyterTracker-muted">{left} run{left === 1 ? '' : 's'} not drawn (a value missing, NaN or ±∞)</div>}
      {colour && colours && (
        <div className="jp-JupyterTracker-legendBox">
          <span className="jp-JupyterTracker-legendTitle" title={colour} data-legend-title="">
            {truncate(colour, 40)}
          </span>
          <ul className="jp-JupyterTracker-legend" aria-label="Colours">
            {colours.keys.slice(0, MAX_COLOURS).map(([value]) => {
              const text = categoryOf(value) ?? 'missing';
              return (
                <li key={keyText([value])} title={text}>
                  <span className="jp-JupyterTracker-swatch" style={{ background: colours.colour(value) }} />
                  {truncate(text, 30)}
                </li>
              );
            })}
            {colours.keys.length > MAX_COLOURS && (
              <li>
                <span className="jp-JupyterTracker-swatch" style={{ background: OTHER }} />
                {colours.keys.length - MAX_COLOURS} more
              </li>
            )}
          </ul>
        </div>
      )}
    </>
  );
}

// --------------------------------------------------------------------------- step series
export interface IBand {
  label: string;
  colour: string;
  stats: ReturnType<typeof stepStats>;
  runs: number;
}

/** A group's key as a colour key: its by-params' values in the server's order. */
function groupKey(group: IRunGroup): Key {
  return Object.values(group.key);
}

function StepSeries(props: { table: TableModel; metrics: ITableColumn[]; query: number }): JSX.Element {
  const { table, metrics, query } = props;
  const [metric, setMetric] = React.useState<string | null>(null);
  const [lines, setLines] = React.useState<ISeries[] | null>(null);
  const [bands, setBands] = React.useState<{ bands: IBand[]; groups: number } | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const chosen = metric ?? metrics[0]?.name ?? null;
  const name = chosen ? chosen.replace(/^metrics\./, '') : null;
  const grouped = table.groupBy.length > 0;
  const selection = [...table.selection.keys()].join(',');
  React.useEffect(() => {
    if (!name) {
      return;
    }
    let cancelled = false;
    const load = async () => {
      if (grouped) {
        // The first groups in the table's order are drawn; each keeps its colour whatever the
        // order: the colours go by the sorted keys of every group loaded (stableColours).
        const known: IRunGroup[] = [];
        for (let i = 0; i < table.total; i++) {
          const group = table.group(i);
          if (group) {
            known.push(group);
          }
        }
        const groups = known.slice(0, MAX_GROUP_BANDS);
        const colours = stableColours(groups.map(groupKey), known.map(groupKey), RUN_COLOURS);
        const perGroup = Math.max(1, Math.floor(MAX_SERIES_RUNS / Math.max(1, groups.length)));
        const result: IBand[] = await Promise.all(
          groups.map(async group => {
            const runs = await table.groupRuns(group, perGroup);
            const series = await Promise.all(
              runs.map(run => fetchMetricSeries(run.run_id, name).catch(() => null))
            );
            const present = series.filter((s): s is NonNullable<typeof s> => s !== null);
            const label = Object.entries(group.key)
              .map(([k, v]) => `${k.replace(/^params\./, '')}=${v === null ? 'missing' : formatValue(v, 30)}`)
              .join(' ');
            return {
              label,
              colour: colours.get(keyText(groupKey(group))) ?? OTHER,
              runs: present.length,
              stats: stepStats(present.map(s => ({ steps: s.step, values: s.value.map(v => parseMetric(v)) })))
            };
          })
        );
        if (!cancelled) {
          setBands({ bands: result, groups: Math.max(table.total, known.length) });
          setLines(null);
        }
      } else {
        const ids = table.selection.size > 0 ? [...table.selection.entries()] : table.firstRows(10).map(r => [r.run_id, rowName(r)] as [string, string]);
        const chosenRuns = ids.slice(0, MAX_SERIES_RUNS);
        const series = await Promise.all(
          chosenRuns.map(([id]) => fetchMetricSeries(id, name).catch(() => null))
        );
        const result: ISeries[] = [];
        series.forEach((s, i) => {
          if (s) {
            result.push({
              label: truncate(chosenRuns[i][1], 30),
              id: shortId(chosenRuns[i][0]),
              title: `${chosenRuns[i][1]} ${chosenRuns[i][0]}`,
              colour: runColour(i),
              steps: s.step,
              values: s.value.map(v => parseMetric(v))
            });
          }
        });
        if (!cancelled) {
          setLines(result);
          setBands(null);
        }
      }
    };
    load().then(
      () => !cancelled && setError(null),
      reason => !cancelled && setError((reason as Error).message)
    );
    return () => {
      cancelled = true;
    };
  }, [name, grouped, selection, query, table.total > 0]);
  const which = grouped ? 'per group' : table.selection.size > 0 ? 'of the selected runs' : 'of the first 10 runs';
  return (
    <figure className="jp-JupyterTracker-chart" aria-label="Step series">
      <figcaption>Step series {which}</figcaption>
      <div className="jp-JupyterTracker-chartControls">
        <ColumnSelect label="Step metric" columns={metrics} value={chosen ?? ''} onChange={setMetric} />
      </div>
      {error && <div className="jp-JupyterTracker-notice">{error}</div>}
      {!grouped && table.selection.size > MAX_SERIES_RUNS && (
        <div className="jp-JupyterTracker-muted">the first {MAX_SERIES_RUNS} selected runs</div>
      )}
      {lines && name && <StepChart title={name} lines={lines} />}
      {bands && name && <BandChart title={name} bands={bands.bands} groups={bands.groups} />}
    </figure>
  );
}

const STEP = { width: 440, height: 250, left: 92, right: 16, top: 10, bottom: 44 };

interface IStepLine {
  colour: string;
  title: string;
  points: [number, number][];
}

/** A mean line and a min–max band per group, over the steps; says so when groups are left out. */
export function BandChart(props: { title: string; bands: IBand[]; groups?: number }): JSX.Element {
  const { title, bands } = props;
  const groups = Math.max(props.groups ?? bands.length, bands.length);
  const notice = groups > bands.length && (
    <div className="jp-JupyterTracker-muted jp-JupyterTracker-chartNote" role="note" aria-label="Groups left out">
      {`${groups.toLocaleString('en')} groups: the first ${bands.length} in the table's order drawn`}
    </div>
  );
  return (
    <>
      {notice}
      <StepChart title={title} bands={bands} />
      <ul className="jp-JupyterTracker-legend">
        {bands.map((band, i) => (
          <li key={i} title={band.label}>
            <span className="jp-JupyterTracker-swatch" style={{ background: band.colour }} />
            {truncate(band.label, 40)} ({band.runs} runs)
          </li>
        ))}
      </ul>
    </>
  );
}

/**
 * Step series on axes with titles ("step" and the metric) and ticks from the first step to the
 * last: one line per run (`lines`), or a mean line and a min–max band per group (`bands`). Points
 * that are NaN or ±∞ are left out of lines, and the chart says how many.
 */
export function StepChart(props: { title: string; lines?: ISeries[]; bands?: IBand[] }): JSX.Element {
  const { title, lines = [], bands = [] } = props;
  const prepared = lines.map(s => ({ ...s, ...drawablePoints(s) }));
  const note = <LeftOutNote series={prepared} />;
  const paths: IStepLine[] = prepared.map(s => ({ colour: s.colour, title: s.title ?? s.label, points: thinPoints(s.points) }));
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  let integer = true;
  for (const path of paths) {
    for (const [step, value] of path.points) {
      [x0, x1, y0, y1] = [Math.min(x0, step), Math.max(x1, step), Math.min(y0, value), Math.max(y1, value)];
      integer = integer && Number.isInteger(step);
    }
  }
  for (const band of bands) {
    for (const s of band.stats) {
      [x0, x1, y0, y1] = [Math.min(x0, s.step), Math.max(x1, s.step), Math.min(y0, s.min), Math.max(y1, s.max)];
      integer = integer && Number.isInteger(s.step);
    }
  }
  if (x0 > x1) {
    return (
      <>
        <div className="jp-JupyterTracker-muted">no finite values to draw</div>
        {note}
      </>
    );
  }
  // y: widened to round values (or around a constant) so both ends have a tick and no line lies on the axis.
  if (y0 === y1) {
    const half = Math.abs(y0) * 0.05 || 0.5;
    [y0, y1] = [y0 - half, y1 + half];
  }
  const [Y0, Y1] = niceDomain(y0, y1, 4);
  const plotW = STEP.width - STEP.left - STEP.right;
  const plotH = STEP.height - STEP.top - STEP.bottom;
  const sx = (v: number) => STEP.left + (x1 === x0 ? plotW / 2 : ((v - x0) / (x1 - x0)) * plotW);
  const sy = (v: number) => STEP.top + plotH - ((v - Y0) / (Y1 - Y0 || 1)) * plotH;
  const xTicks = coverTicks(x0, x1, 5, integer);
  const yTicks = niceTicks(Y0, Y1, 4);
  const shownX = spaceTicks(xTicks.map(sx), i => formatNumber(xTicks[i]).length * TICK_PX, 6);
  const shownY = spaceTicks(yTicks.map(sy), () => TICK_HEIGHT, 1);
  const xy = (step: number, value: number) => `${sx(step).toFixed(1)},${sy(value).toFixed(1)}`;
  return (
    <>
      <svg
        width={STEP.width}
        height={STEP.height}
        viewBox={`0 0 ${STEP.width} ${STEP.height}`}
        role="img"
        aria-label={`${truncate(title, 80)} by step${bands.length > 0 ? ', per group' : ''}`}
      >
        <line x1={STEP.left} x2={STEP.left} y1={STEP.top} y2={STEP.top + plotH} className="jp-JupyterTracker-axis" />
        <line x1={STEP.left} x2={STEP.left + plotW} y1={STEP.top + plotH} y2={STEP.top + plotH} className="jp-JupyterTracker-axis" />
        {shownY.map(i => (
          <g key={`y${i}`} data-tick="y">
            <line x1={STEP.left - 3} x2={STEP.left} y1={sy(yTicks[i])} y2={sy(yTicks[i])} className="jp-JupyterTracker-axis" />
            <text x={STEP.left - 5} y={sy(yTicks[i]) + 3} textAnchor="end" className="jp-JupyterTracker-chartLabel jp-JupyterTracker-tick">
              {formatNumber(yTicks[i])}
            </text>
          </g>
        ))}
        {shownX.map(i => (
          <g key={`x${i}`} data-tick="x">
            <line x1={sx(xTicks[i])} x2={sx(xTicks[i])} y1={STEP.top + plotH} y2={STEP.top + plotH + 3} className="jp-JupyterTracker-axis" />
            <text x={sx(xTicks[i])} y={STEP.top + plotH + 14} textAnchor="middle" className="jp-JupyterTracker-chartLabel jp-JupyterTracker-tick">
              {formatNumber(xTicks[i])}
            </text>
          </g>
        ))}
        <text x={STEP.left + plotW / 2} y={STEP.height - 8} textAnchor="middle" className="jp-JupyterTracker-chartLabel jp-JupyterTracker-axisTitle" data-axis-title="x">
          step
        </text>
        <g>
          <title>{title}</title>
          <text
            x={13}
            y={STEP.top + plotH / 2}
            textAnchor="middle"
            transform={`rotate(-90 13 ${STEP.top + plotH / 2})`}
            className="jp-JupyterTracker-chartLabel jp-JupyterTracker-axisTitle"
            data-axis-title="y"
          >
            {fitText(title, plotH, CHAR_PX_BOLD)}
          </text>
        </g>
        {bands.map((band, i) => (
          <g key={i} className="jp-JupyterTracker-band" data-group={band.label}>
            <polygon
              className="jp-JupyterTracker-bandArea"
              fill={band.colour}
              points={[
                ...band.stats.map(s => xy(s.step, s.max)),
                ...[...band.stats].reverse().map(s => xy(s.step, s.min))
              ].join(' ')}
            >
              <title>{`${band.label}: min–max of ${band.runs} runs`}</title>
            </polygon>
            <polyline
              className="jp-JupyterTracker-bandMean"
              fill="none"
              stroke={band.colour}
              strokeWidth={1.5}
              points={band.stats.map(s => xy(s.step, s.mean)).join(' ')}
            >
              <title>{`${band.label}: mean of ${band.runs} runs`}</title>
            </polyline>
          </g>
        ))}
        {paths.map((path, i) => (
          <polyline key={i} className="jp-JupyterTracker-stepLine" fill="none" stroke={path.colour} strokeWidth={1.5} points={path.points.map(([s, v]) => xy(s, v)).join(' ')}>
            <title>{path.title}</title>
          </polyline>
        ))}
      </svg>
      {note}
      {lines.length > 0 && <Legend items={lines.map(s => ({ label: s.label, id: s.id, title: s.title, colour: s.colour }))} />}
    </>
  );
}

export { CHART_ROWS };
