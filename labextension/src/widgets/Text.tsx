/**
 * Long values kept usable (issue 13): a run name, param, tag or metric name may be 100 KB.
 * `Clip` shows one line cut with an ellipsis, the whole value on hover; `LongText` wraps
 * anywhere and shows the start of a long value, the rest on request.
 */
import * as React from 'react';

import { collapse, COLLAPSE, truncate } from './format';

// Characters put in the page for a clipped value: the CSS ellipsis cuts it to the space there
// is; past this many the browser would lay out text nobody sees.
const CLIP_CHARS = 200;

/** `text` on one line, cut to fit (a CSS ellipsis), whole as its title. */
export function Clip(props: { text: string }): JSX.Element {
  const { text } = props;
  return (
    <span className="jp-JupyterTracker-clip" title={text}>
      {truncate(text, CLIP_CHARS)}
    </span>
  );
}

/**
 * A run's name cut to fit, then its short id, which is never cut (it tells runs apart):
 * `loss_infinite_run_1 1264d0bc`. The title holds `title`, or the name, whole.
 */
export function RunName(props: { name: string; id?: string; title?: string }): JSX.Element {
  const { name, id, title } = props;
  return (
    <span className="jp-JupyterTracker-runLabel" title={title ?? name}>
      <span className="jp-JupyterTracker-clip">{truncate(name, CLIP_CHARS)}</span>
      {id && (
        <>
          {' '}
          <span className="jp-JupyterTracker-runId">{id}</span>
        </>
      )}
    </span>
  );
}

/**
 * `text` wrapped anywhere (a value without spaces does not widen the page); beyond `limits`
 * only its start shows, with a button to show all of it (and its title holds it whole).
 */
export function LongText(props: { text: string; limits?: { chars: number; lines: number } }): JSX.Element {
  const { text, limits = COLLAPSE } = props;
  const [open, setOpen] = React.useState(false);
  const start = collapse(text, limits);
  if (start === null) {
    return <span className="jp-JupyterTracker-wrap">{text}</span>;
  }
  return (
    <span className="jp-JupyterTracker-long">
      <span className="jp-JupyterTracker-wrap" title={open ? undefined : text}>
        {open ? text : start}
      </span>{' '}
      <button className="jp-JupyterTracker-link" aria-expanded={open} onClick={() => setOpen(!open)}>
        {open ? 'Show less' : `Show all ${text.length.toLocaleString('en')} characters`}
      </button>
    </span>
  );
}

// A name in a detail's table (a param, tag or metric name) shows this much before "Show all".
const KEY = { chars: 80, lines: 2 };

/**
 * A name heading a row of a detail: on one line when short, otherwise wrapped and collapsed
 * like a long value, so the detail holds every name whole (a 5,000-character metric name).
 */
export function Key(props: { text: string }): JSX.Element {
  const { text } = props;
  return collapse(text, KEY) === null ? <span>{text}</span> : <LongText text={text} limits={KEY} />;
}
