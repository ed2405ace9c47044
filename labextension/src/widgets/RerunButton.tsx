/**
 * Re-execute a run from its recorded history (in the server, in a fresh kernel), show the
 * progress while it runs and the verdict when it ends.
 */
import * as React from 'react';

import { fetchJob, IJob, JSONValue, startRerun } from '../request';
import { formatDuration, formatValue, shortId } from './format';

const JOB_POLL = 1000; // ms

export function RerunButton(props: { runId: string; onOpenRun: (runId: string) => void }): JSX.Element {
  const { runId, onOpenRun } = props;
  const [job, setJob] = React.useState<IJob | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const active = job !== null && (job.state === 'queued' || job.state === 'running');

  React.useEffect(() => {
    if (!job || !active) {
      return;
    }
    let cancelled = false;
    const timer = setTimeout(async () => {
      try {
        const next = await fetchJob(job.job_id);
        if (!cancelled) {
          setJob(next);
        }
      } catch (reason) {
        if (!cancelled) {
          setError((reason as Error).message);
          setJob(null);
        }
      }
    }, JOB_POLL);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [job]);

  const start = async () => {
    setError(null);
    try {
      setJob(await startRerun(runId));
    } catch (reason) {
      setError((reason as Error).message);
    }
  };

  return (
    <div className="jp-JupyterTracker-rerun">
      <button
        className="jp-JupyterTracker-button jp-mod-accept"
        disabled={active}
        onClick={() => void start()}
        title="Re-execute this run's recorded history in a fresh kernel and check that it reproduces"
      >
        {job && job.state === 'finished' ? 'Rerun again' : 'Rerun'}
      </button>
      {active && job && <Progress job={job} />}
      {error && (
        <div className="jp-JupyterTracker-notice" role="alert">
          {error}
        </div>
      )}
      {job && job.state === 'failed' && (
        <div className="jp-JupyterTracker-verdict jp-mod-failed" role="status" aria-label="Rerun verdict">
          Rerun failed: {job.error}
        </div>
      )}
      {job && job.state === 'finished' && job.result && (
        <Verdict result={job.result} elapsed={job.elapsed} onOpenRun={onOpenRun} />
      )}
    </div>
  );
}

function Progress(props: { job: IJob }): JSX.Element {
  const { job } = props;
  const what = job.state === 'queued' ? 'Rerun queued' : 'Rerunning';
  return (
    <div className="jp-JupyterTracker-progress" role="status" aria-label="Rerun progress">
      <progress
        max={Math.max(1, job.total)}
        value={job.state === 'queued' ? 0 : job.done}
        aria-label={`${job.done} of ${job.total} executions done`}
      />
      <span>
        {what}… {job.done} of {job.total} execution{job.total === 1 ? '' : 's'} done ·{' '}
        {formatDuration(job.elapsed)}
      </span>
    </div>
  );
}

interface IDifference {
  kind: string;
  name: string;
  original: JSONValue;
  new: JSONValue;
  detail: string;
}

interface IAttempt {
  status: string;
  run_id: string | null;
  seconds: number;
  error: { message: string } | null;
  differences: IDifference[];
}

function Verdict(props: {
  result: { [key: string]: JSONValue };
  elapsed: number;
  onOpenRun: (runId: string) => void;
}): JSX.Element {
  const { result, elapsed, onOpenRun } = props;
  const status = String(result.status ?? 'unknown');
  const attempts = (result.attempts ?? []) as unknown as IAttempt[];
  const reproduced = status === 'REPRODUCED';
  return (
    <div
      className={`jp-JupyterTracker-verdict ${reproduced ? 'jp-mod-reproduced' : 'jp-mod-differs'}`}
      role="status"
      aria-label="Rerun verdict"
    >
      <div className="jp-JupyterTracker-verdictHead">
        <strong>{status}</strong>
        <span className="jp-JupyterTracker-muted"> · {formatDuration(elapsed)}</span>
      </div>
      {attempts.map((attempt, index) => (
        <div key={index} className="jp-JupyterTracker-attempt">
          <div>
            Attempt {index + 1}: {attempt.status}
            {attempt.run_id && (
              <>
                {' '}
                ·{' '}
                <button className="jp-JupyterTracker-link" onClick={() => onOpenRun(attempt.run_id!)}>
                  run {shortId(attempt.run_id)}
                </button>
              </>
            )}
          </div>
          {attempt.error && <pre className="jp-JupyterTracker-code">{attempt.error.message}</pre>}
          {attempt.differences.length > 0 && (
            <ul>
              {attempt.differences.map((d, i) => (
                <li key={i}>
                  {d.kind} <strong>{d.name}</strong>: {formatValue(d.original, 40)} → {formatValue(d.new, 40)}
                  {d.detail ? ` (${d.detail})` : ''}
                </li>
              ))}
            </ul>
          )}
        </div>
      ))}
    </div>
  );
}
