/**
 * The runs table in the main area (issue 14): a @lumino/datagrid (JupyterLab's own grid, the CSV
 * viewer's, shared by JupyterLab: not bundled here) over RunsDataModel, which shows the pages
 * TableModel fetched and asks for the ones scrolled to. Above it the filter, search, grouping,
 * column chooser and selection; below it the charts and a group's runs.
 *
 * The grid draws on a canvas, so a run's name or value is never markup. The cells in view are
 * also written as text into a visually hidden table (role "table", for screen readers and tests).
 */
import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import { BasicMouseHandler, DataGrid, DataModel, TextRenderer } from '@lumino/datagrid';
import { Signal } from '@lumino/signaling';
import { BoxPanel, Panel, SplitPanel, Widget } from '@lumino/widgets';
import { Message, MessageLoop } from '@lumino/messaging';
import * as React from 'react';

import { ILiveView, MAX_COMPARED, TrackerModel } from '../model';
import { IRunGroup } from '../request';
import {
  allOf,
  brushLabel,
  groupFilter,
  IChoiceStore,
  IGridColumn,
  orderColumns,
  PENDING,
  TableModel
} from '../table';
import { formatValue, shortId, truncate } from './format';
import { RerunButton } from './RerunButton';
import { DirectGrid } from './DirectGrid';
import { TableCharts } from './TableCharts';
import { Clip } from './Text';

export interface ITableActions {
  openRun: (runId: string) => void;
  compare: (runIds: string[]) => void;
}

const MIRROR_COLUMNS = 40; // columns of the hidden table at most (from the first in view)
const TITLE_CHARS = 2000; // of a cell's value in the grid's hover title
const SETTLE_MS = 100; // the grid has not painted for this long: it rests, fetch what is in view
const DEFAULT_WIDTH = 120; // of a column whose content has no width of its own (columnWidth)

/** The grid's cells: the TableModel's rows as text ("…" until their page arrives). */
export class RunsDataModel extends DataModel {
  constructor(readonly table: TableModel) {
    super();
    this._columns = table.gridColumns;
    this._rowCount = table.total;
    table.rowsChanged.connect(this._onRows, this);
    table.changed.connect(this._onChanged, this);
  }

  get columns(): IGridColumn[] {
    return this._columns;
  }

  rowCount(region: DataModel.RowRegion): number {
    return region === 'body' ? this._rowCount : 1;
  }

  columnCount(region: DataModel.ColumnRegion): number {
    return region === 'body' ? this._columns.length : 1;
  }

  /**
   * Called by the grid for every cell it paints (a screen is some hundreds): a lookup in the
   * row's page and its value as text, nothing more (the paint itself is noted by the grid).
   */
  data(region: DataModel.CellRegion, row: number, column: number): string {
    const col = this._columns[column];
    if (region === 'column-header') {
      if (!col) {
        return '';
      }
      const { sort, direction } = this.table.choices;
      const arrow = col.sort !== null && col.sort === sort ? (direction === 'asc' ? ' ▲' : ' ▼') : '';
      return `${col.label}${arrow}`;
    }
    if (region !== 'body' || !col) {
      return '';
    }
    return this.table.text(row, col);
  }

  dispose(): void {
    this.table.rowsChanged.disconnect(this._onRows, this);
    this.table.changed.disconnect(this._onChanged, this);
  }

  /** New rows: the same columns and count repaint the cells in place; anything else resets the grid. */
  private _onRows(): void {
    const columns = this.table.gridColumns;
    if (this.table.total === this._rowCount && sameColumns(columns, this._columns)) {
      if (this._rowCount > 0 && this._columns.length > 0) {
        this.emitChanged({
          type: 'cells-changed',
          region: 'body',
          row: 0,
          column: 0,
          rowSpan: this._rowCount,
          columnSpan: this._columns.length
        });
      }
      return;
    }
    this._reset(columns);
  }

  /** Columns, total, selection or sort changed: a reset only when the shape did, else a repaint. */
  private _onChanged(): void {
    const columns = this.table.gridColumns;
    if (this.table.total === this._rowCount && sameColumns(columns, this._columns)) {
      // The sort arrow, the selection's colour, a column's label: the whole grid repaints once.
      this.emitChanged({ type: 'model-reset' });
      return;
    }
    this._reset(columns);
  }

  private _reset(columns: IGridColumn[]): void {
    this._columns = columns;
    this._rowCount = this.table.total;
    this.emitChanged({ type: 'model-reset' });
  }

  private _columns: IGridColumn[];
  private _rowCount: number;
}

function sameColumns(a: IGridColumn[], b: IGridColumn[]): boolean {
  if (a.length !== b.length) {
    return false;
  }
  for (let i = 0; i < a.length; i++) {
    if (a[i].id !== b[i].id || a[i].label !== b[i].label || a[i].sort !== b[i].sort) {
      return false;
    }
  }
  return true;
}

/** The width of a column by what it holds (a wide name and start time, narrow counts); null: the default. */
function columnWidth(id: string): number | null {
  return id === 'name' ? 200 : id === 'start' ? 190 : id === 'status' || id === 'runs' ? 80 : null;
}

/** Clicks on the grid: a header sorts (its edges still resize), a row selects, a double click opens the run. */
class TableMouseHandler extends BasicMouseHandler {
  constructor(private readonly view: GridView) {
    super();
  }

  onMouseDown(grid: DataGrid, event: MouseEvent): void {
    const hit = grid.hitTest(event.clientX, event.clientY);
    if (event.button === 0 && hit.region === 'column-header' && Math.min(hit.x, hit.width - hit.x) > 6) {
      this.view.headerClicked(hit.column);
      return;
    }
    if (event.button === 0 && hit.region === 'body') {
      this.view.rowClicked(hit.row, event);
      return;
    }
    super.onMouseDown(grid, event);
  }

  onMouseDoubleClick(grid: DataGrid, event: MouseEvent): void {
    const hit = grid.hitTest(event.clientX, event.clientY);
    if (hit.region === 'body') {
      this.view.rowOpened(hit.row);
      return;
    }
    super.onMouseDoubleClick(grid, event);
  }

  onMouseHover(grid: DataGrid, event: MouseEvent): void {
    super.onMouseHover(grid, event);
    const hit = grid.hitTest(event.clientX, event.clientY);
    // A cell cut by its width shows whole on hover (as a title: text, never markup).
    const text = hit.region === 'body' || hit.region === 'column-header' ? this.view.fullText(hit.region, hit.row, hit.column) : '';
    if (grid.node.title !== text) {
      grid.node.title = text;
    }
  }
}

function cssVar(name: string, fallback: string): string {
  const value = getComputedStyle(document.body).getPropertyValue(name).trim();
  return value || fallback;
}

/** A DataGrid over one TableModel, with the hidden text table of the cells in view. */
export class GridView extends BoxPanel {
  constructor(
    readonly table: TableModel,
    private readonly handlers: { open: (row: number) => void; group?: (group: IRunGroup) => void },
    label: string
  ) {
    super();
    this.addClass('jp-JupyterTracker-gridView');
    this.grid = new DirectGrid({
      defaultSizes: { rowHeight: 24, columnWidth: DEFAULT_WIDTH, rowHeaderWidth: 64, columnHeaderHeight: 28 },
      headerVisibility: 'column'
    });
    this.grid.addClass('jp-JupyterTracker-grid');
    this.grid.node.setAttribute('aria-hidden', 'true'); // the text table below stands in for the canvas
    // Painted: the rows in view (and the pages missing among them) are worked out once it settles.
    this.grid.onPaint = () => this._schedule();
    this.dataModel = new RunsDataModel(table);
    this.grid.dataModel = this.dataModel;
    this.grid.mouseHandler = new TableMouseHandler(this);
    this.addWidget(this.grid);
    this._mirror = document.createElement('table');
    this._mirror.className = 'jp-JupyterTracker-srOnly';
    this._mirror.setAttribute('aria-label', label);
    this._mirrorHead = this._mirror.createTHead().insertRow();
    this._mirrorBody = this._mirror.createTBody();
    this.node.appendChild(this._mirror);
    table.changed.connect(this._onChanged, this);
    table.rowsChanged.connect(this._onRows, this);
  }

  readonly grid: DirectGrid;
  readonly dataModel: RunsDataModel;

  headerClicked(column: number): void {
    const col = this.dataModel.columns[column];
    if (col?.sort) {
      void this.table.sortBy(col.sort);
    }
  }

  rowClicked(row: number, event: MouseEvent): void {
    const group = this.table.group(row);
    if (group) {
      this.handlers.group?.(group);
      return;
    }
    this.table.select(row, { range: event.shiftKey, toggle: event.ctrlKey || event.metaKey });
  }

  rowOpened(row: number): void {
    this.handlers.open(row);
  }

  fullText(region: string, row: number, column: number): string {
    const col = this.dataModel.columns[column];
    if (!col) {
      return '';
    }
    if (region === 'column-header') {
      return col.sort ? `${col.label} (click to sort)` : col.label;
    }
    const text = this.table.text(row, col);
    const value = this.table.row(row)?.values[col.id];
    const whole = typeof value === 'string' ? value : text;
    return truncate(whole, TITLE_CHARS);
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this._applyTheme();
    this._schedule();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    window.clearTimeout(this._timer);
    cancelAnimationFrame(this._frame);
    this.grid.onPaint = null;
    this.table.changed.disconnect(this._onChanged, this);
    this.table.rowsChanged.disconnect(this._onRows, this);
    this.dataModel.dispose();
    super.dispose();
  }

  /**
   * After a paint (or new rows): once per frame, the text table is written if the rows changed,
   * and the settle timer restarts.
   */
  private _schedule(): void {
    if (this._frame) {
      return;
    }
    this._frame = requestAnimationFrame(() => {
      this._frame = 0;
      if (this._mirrorDirty) {
        // New rows or columns: in the text table at once (not when the grid rests). The grid's
        // column resizes are posted messages: processed first, so the headers' places are right.
        this._mirrorDirty = false;
        MessageLoop.flush();
        if (!this.isDisposed && this.isAttached) {
          const { rows, columns } = this._range();
          this._writeMirror(rows, columns);
        }
      }
      // Trailing: while the grid keeps painting (a fast scroll), nothing is asked for; once it
      // rests, the pages in view are (a fling through 20,000 rows asks for one page, not 20).
      window.clearTimeout(this._timer);
      this._timer = window.setTimeout(() => {
        this._timer = 0;
        this._sync();
      }, SETTLE_MS);
    });
  }

  private _range(): { rows: [number, number]; columns: [number, number] } {
    const grid = this.grid;
    const total = this.table.total;
    const rowHeight = grid.defaultSizes.rowHeight;
    const firstRow = Math.max(0, grid.rowAt('body', grid.scrollY));
    let lastRow = grid.rowAt('body', grid.scrollY + Math.max(grid.pageHeight, rowHeight) - 1);
    if (lastRow < 0) {
      lastRow = Math.max(firstRow + Math.ceil(Math.max(grid.pageHeight, 600) / rowHeight), 0);
      lastRow = total > 0 ? Math.min(lastRow, total - 1) : lastRow;
    }
    // The columns from the first in view, up to MIRROR_COLUMNS: those in view and the next ones.
    const ncol = this.dataModel.columns.length;
    const firstCol = Math.max(0, grid.columnAt('body', grid.scrollX));
    return { rows: [firstRow, lastRow], columns: [firstCol, Math.min(ncol - 1, firstCol + MIRROR_COLUMNS - 1)] };
  }

  private _sync(): void {
    if (this.isDisposed || !this.isAttached) {
      return;
    }
    const { rows, columns } = this._range();
    this.table.setViewport(rows[0], rows[1]);
    this._writeMirror(rows, columns);
  }

  /**
   * The cells in view as text, in a table hidden from sight (canvas has no text to read). Its
   * rows and cells are kept from one write to the next: only the texts and attributes that
   * changed are written (a scroll by a few rows rewrites a few hundred text nodes, not 1,600 elements).
   */
  private _writeMirror(rows: [number, number], columns: [number, number]): void {
    const grid = this.grid;
    const cols = this.dataModel.columns.slice(columns[0], columns[1] + 1);
    const mirror = this._mirror;
    setData(mirror, 'total', String(this.table.total));
    setData(mirror, 'firstRow', String(rows[0]));
    const head = this._mirrorHead;
    while (head.cells.length > cols.length) {
      head.deleteCell(-1);
    }
    while (head.cells.length < cols.length) {
      const th = document.createElement('th');
      th.scope = 'col';
      head.appendChild(th);
    }
    cols.forEach((col, i) => {
      const index = columns[0] + i;
      const th = head.cells[i];
      setText(th, this.dataModel.data('column-header', 0, index));
      // Where the header is drawn, relative to the grid: tests click the canvas there.
      setData(th, 'left', String(grid.headerWidth + grid.columnOffset('body', index) - grid.scrollX));
      setData(th, 'width', String(grid.columnSize('body', index)));
      setData(th, 'column', col.id);
    });
    const body = this._mirrorBody;
    const last = Math.min(rows[1], this.table.total - 1);
    const count = Math.max(0, last - rows[0] + 1);
    while (body.rows.length > count) {
      body.deleteRow(-1);
    }
    while (body.rows.length < count) {
      body.insertRow();
    }
    let loaded = 0;
    for (let i = 0; i < count; i++) {
      const r = rows[0] + i;
      const tr = body.rows[i];
      const run = this.table.row(r);
      if (run) {
        setData(tr, 'runId', run.run_id);
        setAttr(tr, 'aria-selected', String(this.table.isSelected(run.run_id)));
      } else {
        setData(tr, 'runId', null);
        setAttr(tr, 'aria-selected', null);
      }
      setData(tr, 'top', String(grid.headerHeight + grid.rowOffset('body', r) - grid.scrollY));
      while (tr.cells.length > cols.length) {
        tr.deleteCell(-1);
      }
      while (tr.cells.length < cols.length) {
        tr.insertCell();
      }
      let pending = false;
      for (let c = 0; c < cols.length; c++) {
        const text = this.table.text(r, cols[c]);
        pending = pending || text === PENDING;
        setText(tr.cells[c], text);
      }
      if (!pending) {
        loaded += 1;
      }
    }
    setData(mirror, 'loadedRows', String(loaded));
    if (loaded > 0 && !mirror.dataset.firstRowsMs) {
      // How long the first rows took to show, from the table's creation (printed by the scale test).
      mirror.dataset.firstRowsMs = String(Math.round(performance.now() - this._created));
    }
    // The longest of the grid's last 50 paints (ms): how long a repaint takes here (bench/browser.py).
    setData(mirror, 'paintMs', String(Math.round(this.grid.slowestRecentPaint * 10) / 10));
  }

  private _onChanged(): void {
    this.toggleClass('jp-mod-stale', this.table.stale);
    this._fitColumns();
    this._mirrorDirty = true;
    this._schedule();
  }

  private _onRows(): void {
    this._fitColumns();
    this._mirrorDirty = true;
    this._schedule();
  }

  /**
   * Column widths by what they hold, set when the columns change. Only the columns whose width
   * differs are resized (each resize moves the columns after it and repaints them), not every
   * column reset first and then resized.
   */
  private _fitColumns(): void {
    const columns = this.dataModel.columns;
    const ids = columns.map(c => c.id).join('\n');
    if (ids === this._fitted) {
      return;
    }
    this._fitted = ids;
    columns.forEach((col, index) => {
      const width = columnWidth(col.id) ?? DEFAULT_WIDTH;
      if (this.grid.columnSize('body', index) !== width) {
        this.grid.resizeColumn('body', index, width);
      }
    });
  }

  private _applyTheme(): void {
    const background = cssVar('--jp-layout-color0', '#fff');
    const stripe = cssVar('--jp-layout-color1', '#f7f7f7');
    const selected = cssVar('--jp-brand-color3', '#c6dbf7');
    const table = this.table;
    this.grid.style = {
      ...DataGrid.defaultStyle,
      voidColor: background,
      backgroundColor: background,
      headerBackgroundColor: cssVar('--jp-layout-color2', '#eee'),
      gridLineColor: cssVar('--jp-border-color3', '#ddd'),
      headerGridLineColor: cssVar('--jp-border-color2', '#ccc'),
      rowBackgroundColor: (index: number) => {
        if (table.selection.size > 0) {
          const run = table.row(index);
          if (run && table.isSelected(run.run_id)) {
            return selected;
          }
        }
        return index % 2 ? stripe : background;
      }
    };
    const font = `${cssVar('--jp-ui-font-size1', '13px')} ${cssVar('--jp-ui-font-family', 'sans-serif')}`;
    const colour = cssVar('--jp-ui-font-color1', '#000');
    this.grid.cellRenderers.update({
      body: new TextRenderer({ font, textColor: colour }),
      'column-header': new TextRenderer({ font: `bold ${font}`, textColor: colour })
    });
  }

  private _mirror: HTMLTableElement;
  private _mirrorHead: HTMLTableRowElement;
  private _mirrorBody: HTMLTableSectionElement;
  private _mirrorDirty = true;
  private _created = performance.now();
  private _frame = 0;
  private _timer = 0;
  private _fitted = '';
}

/** Text written only when it differs (always as text: a value is never markup). */
function setText(node: HTMLElement, text: string): void {
  if (node.textContent !== text) {
    node.textContent = text;
  }
}

function setData(node: HTMLElement, key: string, value: string | null): void {
  if (value === null) {
    if (key in node.dataset) {
      delete node.dataset[key];
    }
  } else if (node.dataset[key] !== value) {
    node.dataset[key] = value;
  }
}

function setAttr(node: HTMLElement, name: string, value: string | null): void {
  if (value === null) {
    node.removeAttribute(name);
  } else if (node.getAttribute(name) !== value) {
    node.setAttribute(name, value);
  }
}

/**
 * One experiment's runs table (or all experiments'): controls, grid, a group's runs and the
 * charts. The TrackerModel's poll refreshes it while it is shown (watchView).
 */
export class RunsTableWidget extends Panel implements ILiveView {
  constructor(options: {
    tracker: TrackerModel;
    experiment: string | null;
    store: IChoiceStore | null;
    actions: ITableActions;
  }) {
    super();
    this.addClass('jp-JupyterTracker-runsTable');
    this.tracker = options.tracker;
    this.actions = options.actions;
    this.table = new TableModel(options.experiment, { store: options.store });
    const label = options.experiment === null ? 'all experiments' : options.experiment;
    this._controls = ReactWidget.create(
      <UseSignal signal={this.table.changed}>
        {() => (
          <UseSignal signal={this.tracker.changed}>
            {() => <TableControls view={this} />}
          </UseSignal>
        )}
      </UseSignal>
    );
    this._controls.addClass('jp-JupyterTracker-tableControls');
    this._main = new GridView(
      this.table,
      { open: row => this._open(this.table, row), group: group => this.openGroup(group) },
      `Runs of ${truncate(label, 80)}`
    );
    this._split = new SplitPanel({ orientation: 'vertical', spacing: 4 });
    this._split.addClass('jp-JupyterTracker-tableSplit');
    this._split.addWidget(this._main);
    this._subBox = new BoxPanel();
    this._subBox.addClass('jp-JupyterTracker-subTable');
    this._subBox.hide();
    this._split.addWidget(this._subBox);
    this._charts = ReactWidget.create(<TableCharts view={this} />);
    this._charts.addClass('jp-JupyterTracker-tableCharts');
    this._charts.hide();
    this._split.addWidget(this._charts);
    // The controls take the height they need (it changes: an error, a selection) and the grid the
    // rest (CSS flex); the split is told when its height changed, to lay the grid out again.
    this.addWidget(this._controls);
    this.addWidget(this._split);
    this._resizes = new ResizeObserver(() => {
      if (this._split.isAttached) {
        MessageLoop.sendMessage(this._split, Widget.ResizeMessage.UnknownSize);
      }
    });
    this._resizes.observe(this._split.node);
    void this.table.open();
  }

  readonly tracker: TrackerModel;
  readonly table: TableModel;
  readonly actions: ITableActions;

  /** The table of the group opened below the grid, if any. */
  get subTable(): TableModel | null {
    return this._sub?.table ?? null;
  }

  get openedGroup(): IRunGroup | null {
    return this._group;
  }

  get chartsShown(): boolean {
    return this._charts.isVisible || !this._charts.isHidden;
  }

  /** The poll's tick (TrackerModel.watchView): the rows in view fetched again. */
  async refresh(storeChanged: boolean): Promise<void> {
    await Promise.all([this.table.refresh(storeChanged), this._sub?.table.refresh(storeChanged)]);
  }

  toggleCharts(): void {
    if (this._charts.isHidden) {
      this._charts.show();
      this._split.setRelativeSizes(this._subBox.isHidden ? [0.5, 0, 0.5] : [0.4, 0.25, 0.35]);
    } else {
      this._charts.hide();
    }
    this._chartsToggled.emit();
  }

  get chartsToggled(): Signal<this, void> {
    return this._chartsToggled;
  }

  /** A group's runs in a table below the grid (the filter the group stands for, with the table's). */
  openGroup(group: IRunGroup): void {
    this.closeGroup();
    const filter = allOf([this.table.effectiveFilter, groupFilter(group.key)]);
    const sub = new TableModel(this.table.experiment, { fixedFilter: filter, selection: this.table.selection });
    sub.restoreFrom(this.table);
    const title = Object.entries(group.key)
      .map(([column, value]) => `${column} = ${value === null ? 'missing' : formatValue(value, 40)}`)
      .join(', ');
    const header = ReactWidget.create(
      <div className="jp-JupyterTracker-subHeader">
        <span>
          Runs of the group <Clip text={title} /> ({group.runs})
        </span>
        <button className="jp-JupyterTracker-button" onClick={() => this.closeGroup()}>
          Close group
        </button>
      </div>
    );
    this._sub = new GridView(sub, { open: row => this._open(sub, row) }, 'Runs of the group');
    sub.changed.connect(() => this.table.notifySelection(), this);
    this._subHeader = header;
    this._group = group;
    this._subBox.addWidget(header);
    this._subBox.addWidget(this._sub);
    BoxPanel.setStretch(header, 0);
    BoxPanel.setStretch(this._sub, 1);
    this._subBox.show();
    this._split.setRelativeSizes(this._charts.isHidden ? [0.5, 0.5, 0] : [0.4, 0.25, 0.35]);
    void sub.open();
    this._groupChanged.emit();
  }

  closeGroup(): void {
    if (this._sub) {
      const table = this._sub.table;
      this._sub.dispose();
      this._subHeader?.dispose();
      table.dispose();
      this._sub = null;
      this._subHeader = null;
      this._group = null;
      this._subBox.hide();
      this._groupChanged.emit();
    }
  }

  get groupChanged(): Signal<this, void> {
    return this._groupChanged;
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

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._watch(false);
    this._resizes.disconnect();
    this.closeGroup();
    super.dispose();
    this.table.dispose();
  }

  private _open(table: TableModel, row: number): void {
    const run = table.row(row);
    if (run) {
      this.actions.openRun(run.run_id);
    }
  }

  private _watch(on: boolean): void {
    if (on && !this._unwatch) {
      this._unwatch = this.tracker.watchView(this);
      if (this.table.loaded) {
        void this.refresh(true); // hidden a while: catch up now
      }
    } else if (!on && this._unwatch) {
      this._unwatch();
      this._unwatch = null;
    }
  }

  private _controls: Widget;
  private _main: GridView;
  private _split: SplitPanel;
  private _subBox: BoxPanel;
  private _sub: GridView | null = null;
  private _subHeader: Widget | null = null;
  private _group: IRunGroup | null = null;
  private _charts: Widget;
  private _unwatch: (() => void) | null = null;
  private _resizes: ResizeObserver;
  private _chartsToggled = new Signal<this, void>(this);
  private _groupChanged = new Signal<this, void>(this);
}

// ------------------------------------------------------------------------------- controls
function TableControls(props: { view: RunsTableWidget }): JSX.Element {
  const { view } = props;
  const table = view.table;
  const [panel, setPanel] = React.useState<'columns' | 'group' | null>(null);
  const bar = React.useRef<HTMLDivElement>(null);
  React.useEffect(() => {
    if (panel === null) {
      return;
    }
    // A popup closes on a click elsewhere (the grid, a chart) and on Escape.
    const onDown = (event: MouseEvent) => {
      if (bar.current && !bar.current.contains(event.target as Node)) {
        setPanel(null);
      }
    };
    const onKey = (event: KeyboardEvent) => event.key === 'Escape' && setPanel(null);
    document.addEventListener('mousedown', onDown, true);
    document.addEventListener('keydown', onKey, true);
    return () => {
      document.removeEventListener('mousedown', onDown, true);
      document.removeEventListener('keydown', onKey, true);
    };
  }, [panel]);
  const selected = [...table.selection.entries()];
  const grouped = table.groupBy.length > 0;
  const rows = grouped
    ? `${table.total.toLocaleString('en')} group${table.total === 1 ? '' : 's'}`
    : `${table.total.toLocaleString('en')} run${table.total === 1 ? '' : 's'}`;
  return (
    <div className="jp-JupyterTracker-tableBar" ref={bar}>
      <div className="jp-JupyterTracker-tableRow">
        <FilterBox table={table} />
        <SearchBox table={table} />
      </div>
      {table.error && (
        <div className="jp-JupyterTracker-notice" role="alert" aria-label="Table error">
          {table.stale && table.rejectedFilter !== null && table.rejectedFilter !== table.filter
            ? `Filter not applied: ${table.error}`
            : table.error}
          {table.stale && (
            <div className="jp-JupyterTracker-staleNote">
              The rows below are dimmed: they match the previous filter
              {table.filter ? ` “${truncate(table.filter, 120)}”` : ' (none)'}, not the new one.
            </div>
          )}
        </div>
      )}
      {table.brushes.length > 0 && (
        <div className="jp-JupyterTracker-tableRow" aria-label="Chart brushes">
          <span className="jp-JupyterTracker-muted">Brushed:</span>
          {table.brushes.map(brush => (
            <button
              key={brush.column}
              className="jp-JupyterTracker-chip"
              aria-label={`Remove brush ${brush.column}`}
              title={`Remove this range (${brushLabel(brush)})`}
              onClick={() => void table.setBrush(null, brush.column)}
            >
              {truncate(brushLabel(brush), 60)} ×
            </button>
          ))}
        </div>
      )}
      <div className="jp-JupyterTracker-tableRow">
        <span role="status" aria-label="Rows" className="jp-JupyterTracker-tableCount">
          {table.loaded ? rows : 'Loading…'}
        </span>
        <button
          className="jp-JupyterTracker-button"
          aria-expanded={panel === 'columns'}
          onClick={() => setPanel(panel === 'columns' ? null : 'columns')}
        >
          Columns
        </button>
        <button
          className="jp-JupyterTracker-button"
          aria-expanded={panel === 'group'}
          onClick={() => setPanel(panel === 'group' ? null : 'group')}
        >
          {grouped ? `Group by (${table.groupBy.length})` : 'Group by'}
        </button>
        <button
          className="jp-JupyterTracker-button"
          aria-pressed={!view.chartsShown ? false : true}
          onClick={() => {
            view.toggleCharts();
            setPanel(panel); // re-render for aria-pressed
          }}
        >
          Charts
        </button>
        {selected.length > 0 && (
          <>
            <span className="jp-JupyterTracker-muted">{selected.length} selected</span>
            <button
              className="jp-JupyterTracker-button jp-mod-accept"
              disabled={selected.length < 2 || selected.length > MAX_COMPARED}
              title={
                selected.length < 2
                  ? 'Select at least two runs (ctrl-click or shift-click)'
                  : selected.length > MAX_COMPARED
                    ? `At most ${MAX_COMPARED} runs can be compared at once`
                    : ''
              }
              onClick={() => view.actions.compare(selected.map(([id]) => id))}
            >
              Compare {selected.length} runs
            </button>
            <button className="jp-JupyterTracker-button" onClick={() => table.clearSelection()}>
              Clear selection
            </button>
          </>
        )}
      </div>
      {selected.length === 1 && view.tracker.status?.rerun && (
        <div className="jp-JupyterTracker-tableRow" aria-label="Selected run">
          <span className="jp-JupyterTracker-muted" title={`${selected[0][1]} ${selected[0][0]}`}>
            {truncate(selected[0][1], 60)} {shortId(selected[0][0])}
          </span>
          <RerunButton runId={selected[0][0]} model={view.tracker} onOpenRun={view.actions.openRun} />
        </div>
      )}
      {panel === 'columns' && <ColumnChooser table={table} />}
      {panel === 'group' && <GroupPicker table={table} />}
    </div>
  );
}

function FilterBox(props: { table: TableModel }): JSX.Element {
  const { table } = props;
  const [text, setText] = React.useState(table.filter);
  return (
    <input
      className="jp-JupyterTracker-search jp-JupyterTracker-filter"
      type="text"
      aria-label="Filter expression"
      title="An expression, applied on Enter: metrics.acc > 0.9 and params.model == &quot;rf&quot;"
      placeholder='Filter, then Enter: metrics.acc > 0.9 and params.model == "rf"'
      spellCheck={false}
      value={text}
      onChange={event => setText(event.target.value)}
      onKeyDown={event => {
        if (event.key === 'Enter') {
          void table.setFilter(text);
        } else if (event.key === 'Escape') {
          setText(table.filter);
        }
      }}
    />
  );
}

function SearchBox(props: { table: TableModel }): JSX.Element {
  const { table } = props;
  const [text, setText] = React.useState(table.q);
  React.useEffect(() => {
    if (text.trim() === table.q) {
      return;
    }
    const timer = setTimeout(() => void table.setQuery(text), 300);
    return () => clearTimeout(timer);
  }, [text]);
  return (
    <input
      className="jp-JupyterTracker-search jp-JupyterTracker-tableSearch"
      type="search"
      aria-label="Search runs"
      placeholder="Search names, params, tags, code…"
      value={text}
      onChange={event => setText(event.target.value)}
    />
  );
}

/** Which columns show and in what order; the switch hides those with one value in every run. */
function ColumnChooser(props: { table: TableModel }): JSX.Element {
  const { table } = props;
  const [find, setFind] = React.useState('');
  const [dragged, setDragged] = React.useState<string | null>(null);
  const hidden = new Set(table.choices.hidden);
  const all = orderColumns(table.allColumns, table.choices.order);
  const needle = find.trim().toLowerCase();
  const listed = needle ? all.filter(c => c.name.toLowerCase().includes(needle)) : all;
  return (
    <section className="jp-JupyterTracker-popup" aria-label="Column chooser">
      <label className="jp-JupyterTracker-switch">
        <input
          type="checkbox"
          role="switch"
          checked={table.choices.hideConstant}
          onChange={event => void table.setHideConstant(event.target.checked)}
        />{' '}
        Hide columns that do not vary
      </label>
      <input
        className="jp-JupyterTracker-search"
        type="search"
        aria-label="Find a column"
        placeholder="Find a column…"
        value={find}
        onChange={event => setFind(event.target.value)}
      />
      <ul className="jp-JupyterTracker-columnList" aria-label="Columns">
        {listed.map((column, index) => {
          const hiddenByConstant = table.choices.hideConstant && column.constant && column.name !== 'name';
          return (
            <li
              key={column.name}
              draggable
              data-column={column.name}
              className={dragged === column.name ? 'jp-mod-dragged' : ''}
              onDragStart={event => {
                setDragged(column.name);
                event.dataTransfer.setData('text/plain', column.name);
              }}
              onDragOver={event => event.preventDefault()}
              onDrop={event => {
                event.preventDefault();
                const name = event.dataTransfer.getData('text/plain') || dragged;
                if (name && name !== column.name) {
                  table.placeColumn(name, column.name);
                }
                setDragged(null);
              }}
              onDragEnd={() => setDragged(null)}
            >
              <label title={column.name}>
                <input
                  type="checkbox"
                  aria-label={`Show ${truncate(column.name, 80)}`}
                  checked={!hidden.has(column.name) && !hiddenByConstant}
                  disabled={column.name === 'name' || hiddenByConstant}
                  onChange={event => void table.setHidden(column.name, !event.target.checked)}
                />{' '}
                <Clip text={column.name} />
              </label>
              {column.constant && <span className="jp-JupyterTracker-badge">constant</span>}
              <button
                className="jp-JupyterTracker-iconButton"
                aria-label={`Move ${truncate(column.name, 80)} up`}
                disabled={needle.length > 0 || index === 0}
                onClick={() => table.moveColumn(column.name, -1)}
              >
                ↑
              </button>
              <button
                className="jp-JupyterTracker-iconButton"
                aria-label={`Move ${truncate(column.name, 80)} down`}
                disabled={needle.length > 0 || index === listed.length - 1}
                onClick={() => table.moveColumn(column.name, 1)}
              >
                ↓
              </button>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

/** Group by one or more params: one row per combination of their values, with metric statistics. */
function GroupPicker(props: { table: TableModel }): JSX.Element {
  const { table } = props;
  const [find, setFind] = React.useState('');
  const params = table.allColumns.filter(c => c.kind === 'param').map(c => c.name);
  const chosen = table.requestedGroupBy;
  const needle = find.trim().toLowerCase();
  const listed = needle ? params.filter(p => p.toLowerCase().includes(needle)) : params;
  const toggle = (param: string, on: boolean) =>
    void table.setGroupBy(on ? [...chosen, param] : chosen.filter(p => p !== param));
  return (
    <section className="jp-JupyterTracker-popup" aria-label="Group by params">
      <p className="jp-JupyterTracker-muted">
        One row per combination of the chosen params, with each shown metric&apos;s mean, std, min, max
        and count. Click a group to see its runs.
      </p>
      {chosen.length > 0 && (
        <button className="jp-JupyterTracker-button" onClick={() => void table.setGroupBy([])}>
          Ungroup
        </button>
      )}
      <input
        className="jp-JupyterTracker-search"
        type="search"
        aria-label="Find a param"
        placeholder="Find a param…"
        value={find}
        onChange={event => setFind(event.target.value)}
      />
      {params.length === 0 && <div className="jp-JupyterTracker-muted">These runs have no params.</div>}
      <ul className="jp-JupyterTracker-columnList" aria-label="Params">
        {listed.map(param => (
          <li key={param}>
            <label title={param}>
              <input
                type="checkbox"
                aria-label={`Group by ${truncate(param, 80)}`}
                checked={chosen.includes(param)}
                onChange={event => toggle(param, event.target.checked)}
              />{' '}
              <Clip text={param} />
              {chosen.includes(param) && <span className="jp-JupyterTracker-muted"> ({chosen.indexOf(param) + 1})</span>}
            </label>
          </li>
        ))}
      </ul>
    </section>
  );
}
