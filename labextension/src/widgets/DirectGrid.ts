/**
 * A @lumino/datagrid DataGrid that paints its cells straight onto its canvas, each clipped to
 * its cell, instead of through lumino's off-screen buffer.
 *
 * Why (issue 14): lumino paints every cell into a buffer canvas and then copies that cell's
 * rectangle onto the visible canvas with drawImage. On Chromium's software canvas (no GPU:
 * headless, virtual machines, remote desktops, GPUs on the blocklist) each such copy of a canvas
 * just drawn into costs about what copying the whole buffer does (the canvas size, 1536 × 1024
 * × 4 bytes here), whatever the cell's size: ~5 ms a cell, ~1 s a repaint of the 300 cells of one
 * screen, measured in headless Chromium. Drawn directly with a clip, the same screen takes a few
 * milliseconds, and looks the same: the cell's text over the row's background already on the
 * canvas, cut at the cell's edges.
 *
 * How: `_drawCells` (lumino's, unchanged) runs with the canvas's context standing in for the
 * buffer's. A cell starts with `clearRect` of the buffer: here it opens a clip to the cell (within
 * the region painted) instead; it ends with the copy of that rectangle from the buffer: here it
 * closes the clip instead. Everything else (the grid lines, the headers, scrolling's copies of
 * the canvas onto itself, merged cells) is lumino's own. These are lumino's private members: if
 * a later lumino renames them, the grid paints the ordinary way (`directPaint` says which).
 */
import { DataGrid } from '@lumino/datagrid';

interface IPaintRegion {
  xMin: number;
  yMin: number;
  xMax: number;
  yMax: number;
}

/** The private members of lumino's DataGrid this relies on (2.x). */
interface ILuminoGridInternals {
  _drawCells(rgn: IPaintRegion): void;
  _blitContent(source: HTMLCanvasElement, x: number, y: number, w: number, h: number, dx: number, dy: number): void;
  _canvasGC: CanvasRenderingContext2D;
  _bufferGC: CanvasRenderingContext2D;
  _buffer: HTMLCanvasElement;
}

const base = DataGrid.prototype as unknown as ILuminoGridInternals;
const RECENT_PAINTS = 50;
const SUPPORTED = typeof base._drawCells === 'function' && typeof base._blitContent === 'function';

export class DirectGrid extends DataGrid {
  /** Whether cells are painted directly (false: lumino's internals are not the expected ones). */
  get directPaint(): boolean {
    const self = this as unknown as ILuminoGridInternals;
    return SUPPORTED && !!self._canvasGC && !!self._bufferGC && !!self._buffer;
  }

  /** Called after every paint of the grid's content (a scroll, new rows, a resize). */
  onPaint: (() => void) | null = null;

  /** The longest of the last RECENT_PAINTS paints (ms): what a repaint costs here lately. */
  get slowestRecentPaint(): number {
    return this._recent.length === 0 ? 0 : Math.max(...this._recent);
  }

  protected paintContent(rx: number, ry: number, rw: number, rh: number): void {
    const started = performance.now();
    super.paintContent(rx, ry, rw, rh);
    this._recent[this._next] = performance.now() - started;
    this._next = (this._next + 1) % RECENT_PAINTS;
    this.onPaint?.();
  }

  private _recent: number[] = [];
  private _next = 0;
}

// Whether a cell's clip is open, per grid painting its cells (one paint at a time).
interface IDirectState {
  clipOpen: boolean;
}

const STATE = new WeakMap<object, IDirectState>();

if (SUPPORTED) {
  const proto = DirectGrid.prototype as unknown as ILuminoGridInternals;
  proto._drawCells = function (this: ILuminoGridInternals, rgn: IPaintRegion): void {
    if (!(this as unknown as DirectGrid).directPaint) {
      base._drawCells.call(this, rgn);
      return;
    }
    const canvasGC = this._canvasGC;
    const bufferGC = this._bufferGC;
    const state: IDirectState = { clipOpen: false };
    STATE.set(this, state);
    const own = canvasGC as unknown as { clearRect: CanvasRenderingContext2D['clearRect'] };
    // lumino clears the cell in the buffer before painting it: here the cell's clip opens instead.
    own.clearRect = (x: number, y: number, w: number, h: number) => {
      if (state.clipOpen) {
        canvasGC.restore();
      }
      const x1 = Math.max(rgn.xMin, x);
      const x2 = Math.min(x + w - 1, rgn.xMax);
      const y1 = Math.max(rgn.yMin, y);
      const y2 = Math.min(y + h - 1, rgn.yMax);
      canvasGC.save();
      canvasGC.beginPath();
      canvasGC.rect(x1, y1, Math.max(0, x2 - x1 + 1), Math.max(0, y2 - y1 + 1));
      canvasGC.clip();
      state.clipOpen = true;
    };
    this._bufferGC = canvasGC;
    try {
      base._drawCells.call(this, rgn);
    } finally {
      if (state.clipOpen) {
        canvasGC.restore();
        state.clipOpen = false;
      }
      delete (own as { clearRect?: unknown }).clearRect; // the prototype's clearRect again
      this._bufferGC = bufferGC;
      STATE.delete(this);
    }
  };

  proto._blitContent = function (
    this: ILuminoGridInternals,
    source: HTMLCanvasElement,
    x: number,
    y: number,
    w: number,
    h: number,
    dx: number,
    dy: number
  ): void {
    const state = STATE.get(this);
    if (state && source === this._buffer) {
      // The cell is already on the canvas: its clip closes.
      if (state.clipOpen) {
        this._canvasGC.restore();
        state.clipOpen = false;
      }
      return;
    }
    base._blitContent.call(this, source, x, y, w, h, dx, dy);
  };
}
