/**
 * Re-execute a run from its recorded history (in the server, in a fresh kernel), show the
 * progress while it runs and the verdict when it ends. The job is followed by the model's
 * poll (model.ts): this component only shows model.rerunState.
 */
import * as React from 'react';

import { IRerunState, isActiveJob, TrackerModel } from '../model';
import { IAttempt, IJob, IVerdict } from '../request';
import { differenceText, executionErrorText, formatDuration, shortId } from './format';

export function RerunButton(props: {
  runId: string;
  model: TrackerModel;
  onOpenRun: (runId: string) => void;
}): JSX.Element {
  const { runId, model, onOpenRun } = props;
  const [state, setState] = React.useState<IRerunState>(() => model.rerunState(runId));

  React.useEffect(() => {
    const onChange = (_: TrackerModel, changed: string) => {
      if (changed === runId) {
        setState(model.rerunState(runId));
      }
    };
    model.rerunChanged.connect(onChange);
    setState(model.rerunState(runId));
    return () => {
      model.rerunChanged.disconnect(onChange);
    };
  }, [runId, model]);

  const { job, error } = state;
  const active = isActiveJob(job);
  return (
    <div className="jp-JupyterTracker-rerun">
      <button
        className="jp-JupyterTracker-button jp-mod-accept"
        disabled={active}
        onClick={() => void model.startRerun(runId)}
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
        <Verdict verdict={job.result} elapsed={job.elapsed} onOpenRun={onOpenRun} />
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

function Verdict(props: { verdict: IVerdict; elapsed: number; onOpenRun: (runId: string) => void }): JSX.Element {
  const { verdict, elapsed, onOpenRun } = props;
  const modifier =
    verdict.status === 'REPRODUCED' ? 'jp-mod-reproduced' : verdict.status === 'DIFFERS' ? 'jp-mod-differs' : 'jp-mod-failed';
  return (
    <div className={`jp-JupyterTracker-verdict ${modifier}`} role="status" aria-label="Rerun verdict">
      <div className="jp-JupyterTracker-verdictHead">
        <strong>{verdict.status}</strong>
        <span className="jp-JupyterTracker-muted"> · {formatDuration(elapsed)}</span>
      </div>
      {verdict.attempts.map((attempt, index) => (
        <Attempt key={index} attempt={attempt} number={index + 1} onOpenRun={onOpenRun} />
      ))}
    </div>
  );
}

function Attempt(props: { attempt: IAttempt; number: number; onOpenRun: (runId: string) => void }): JSX.Element {
  const { attempt, number, onOpenRun } = props;
  const rerunId = attempt.run_id;
  return (
    <div className="jp-JupyterTracker-attempt">
      <div>
        Attempt {number}: {attempt.status} · {formatDuration(attempt.seconds)}
        {rerunId && (
          <>
            {' '}
            ·{' '}
            <button className="jp-JupyterTracker-link" onClick={() => onOpenRun(rerunId)}>
              run {shortId(rerunId)}
            </button>
          </>
        )}
      </div>
      {attempt.error && <pre className="jp-JupyterTracker-code">{executionErrorText(attempt.error)}</pre>}
      {attempt.differences.length > 0 && (
        <ul>
          {attempt.differences.map((d, i) => (
            <li key={i} className={d.counts ? '' : 'jp-JupyterTracker-muted'}>
              {differenceText(d)}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
