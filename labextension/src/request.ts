/**
 * The one request seam: the only module that knows the server's URLs.
 *
 * Every call goes through ServerConnection.makeRequest, which adds the token and the XSRF
 * header. A non-2xx answer throws ServerConnection.ResponseError carrying the server's JSON
 * message, so callers show `error.message` and branch on `error.response.status` only.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

// ---------------------------------------------------------------- the API's JSON
export type JSONValue =
  | string
  | number
  | boolean
  | null
  | JSONValue[]
  | { [key: string]: JSONValue };

export interface IStatus {
  version: string;
  store_path: string;
  store_exists: boolean;
  schema_version: number | null;
  runs?: number;
  running?: number;
  last_start?: number | null;
  last_end?: number | null;
  rerun: boolean;
}

export interface IExperiment {
  name: string;
  runs: number;
  last_start: number;
}

export interface IColumns {
  metrics: string[];
  params: string[];
  tags: string[];
}

/**
 * A number as render.json_safe writes it: a JSON number, or the text "NaN", "Infinity" or
 * "-Infinity", which strict JSON has no numbers for (servers before issue 13 wrote NaN as null).
 * Read it with widgets/format.ts parseNumber or parseMetric, never as a number.
 */
export type MetricValue = number | string | null;

export interface IRunSummary {
  run_id: string;
  experiment: string;
  name: string;
  status: string;
  start: number;
  duration: number | null;
  params: { [key: string]: JSONValue };
  metrics: { [key: string]: MetricValue };
  tags: { [key: string]: string };
  rerun_of: string | null;
  hidden_state: IHiddenState | null;
}

export interface IRunsPage {
  total: number;
  offset: number;
  limit: number;
  runs: IRunSummary[];
}

export interface IRunsQuery {
  experiment?: string;
  q?: string;
  sort?: string;
  order?: 'asc' | 'desc';
  limit?: number;
  offset?: number;
}

export interface IHiddenState {
  clean: boolean;
  reasons?: string[];
  [key: string]: JSONValue | undefined;
}

export interface IColumnFingerprint {
  name: string;
  dtype: string;
  hash: string;
  stats: { [key: string]: JSONValue };
}

export interface IFingerprint {
  kind: string;
  hash: string;
  shape: number[];
  nbytes: number;
  columns: IColumnFingerprint[];
}

export interface IDataRef {
  role: string;
  name: string;
  source: string;
  fingerprint: IFingerprint | null;
  note: string | null;
}

export interface IRun {
  run_id: string;
  experiment: string;
  name: string;
  status: string;
  start: number;
  end: number | null;
  duration: number | null;
  source: string;
  params: { [key: string]: JSONValue };
  tags: { [key: string]: string };
  seeds: { source: string; value: JSONValue }[];
  metrics: { [key: string]: MetricValue };
  metric_steps: { [key: string]: number };
  inputs: IDataRef[];
  outputs: IDataRef[];
  code: string;
  history: string[];
  environment: { [key: string]: JSONValue };
  error: string | null;
  warnings: string[];
  rerun_of?: string | null;
  session_id?: string | null;
  hidden_state?: IHiddenState | null;
  artifacts?: { name: string; kind: string; size: number; format: string; origin: string }[];
}

export interface IRunDetail {
  run: IRun;
  previous_run_id: string | null;
  changed_inputs: { [name: string]: string[] };
}

export interface ICompareRow {
  key: string;
  values: JSONValue[];
  differs: boolean;
}

export interface ICompareMetricRow extends ICompareRow {
  /** Against the first run: null when either value is missing or NaN, "-Infinity" for 0.5 - inf. */
  deltas: MetricValue[];
}

export interface IComparison {
  runs: string[];
  params: ICompareRow[];
  seeds: ICompareRow[];
  metrics: ICompareMetricRow[];
  data: ICompareRow[];
  packages: ICompareRow[];
  environment: ICompareRow[];
  code: { run: string; diff: string }[];
  details: {
    run_id: string;
    name: string;
    experiment: string;
    status: string;
    start: number;
    metric_steps: { [key: string]: number };
  }[];
}

export interface IMetricSeries {
  run_id: string;
  name: string;
  step: (number | null)[];
  value: MetricValue[];
}

export interface IRerunOptions {
  repeat?: number;
  rtol?: number;
  atol?: number;
}

/** How a rerun ended: `Verdict.status` (jupyter_tracker/repro/verdict.py; the types below mirror its dataclasses). */
export type VerdictStatus = 'REPRODUCED' | 'DIFFERS' | 'COULD NOT EXECUTE';

/** Why a notebook could not be executed (`ExecutionError`): the failing cell and its exception. */
export interface IExecutionError {
  message: string;
  cell_index: number | null;
  exec_count: number | null;
  ename: string | null;
  evalue: string | null;
}

/** One thing that differs between the original run and a re-execution (`Difference`). */
export interface IDifference {
  kind: 'status' | 'param' | 'seed' | 'input' | 'output' | 'metric';
  name: string;
  original: JSONValue; // null when the original has no such value
  new: JSONValue;
  detail: string;
  abs_diff: MetricValue;
  rel_diff: MetricValue;
  counts: boolean; // false for timings: reported, not counted as a difference
}

/** A metric of the original run beside the same metric of a re-execution (`MetricComparison`). */
export interface IMetricComparison {
  name: string;
  original: MetricValue;
  new: MetricValue;
  abs_diff: MetricValue;
  rel_diff: MetricValue;
  agrees: boolean;
}

/** One re-execution and how it compares (`Attempt`). */
export interface IAttempt {
  status: VerdictStatus;
  run_id: string | null;
  output: string | null;
  seconds: number;
  error: IExecutionError | null;
  differences: IDifference[];
  metrics: IMetricComparison[];
}

/** A rerun's result: `Verdict.to_dict()`, sent as a finished job's `result`. */
export interface IVerdict {
  status: VerdictStatus;
  exit_code: 0 | 1 | 2;
  original: string;
  name: string;
  rtol: number;
  atol: number;
  replay: string | null;
  attempts: IAttempt[];
}

export interface IJob {
  job_id: string;
  kind: string;
  run_id: string;
  state: 'queued' | 'running' | 'finished' | 'failed';
  created: number;
  started: number | null;
  ended: number | null;
  elapsed: number;
  done: number;
  total: number;
  result: IVerdict | null; // set when state is 'finished'
  error: string | null;
}

/** A column of the runs table (GET table): `status`, `params.lr`, `metrics.acc`, `tags.t`... */
export interface ITableColumn {
  name: string;
  kind: 'field' | 'param' | 'metric' | 'tag';
  /** Every matching run has the same value (or none): the column tells no run apart. */
  constant: boolean;
}

/** A run as a row of the table: only the columns asked for; a missing value is an absent key. */
export interface ITableRow {
  run_id: string;
  values: { [column: string]: JSONValue };
}

export interface ITablePage {
  total: number;
  offset: number;
  limit: number;
  columns: ITableColumn[];
  rows: ITableRow[];
}

/** What the table route filters, searches, sorts and pages by (the server does all of it). */
export interface ITableQuery {
  experiment?: string;
  /** An expression: `metrics.acc > 0.9 and params.model == "rf"`; a bad one is a 400. */
  filter?: string;
  /** Free text, searched in names, params, tags and code. */
  q?: string;
  sort?: string;
  order?: 'asc' | 'desc';
  limit?: number;
  offset?: number;
  /** The columns the rows carry (all when not given). */
  columns?: string[];
}

export interface IGroupStats {
  mean: MetricValue;
  std: MetricValue;
  min: MetricValue;
  max: MetricValue;
  count: number;
}

export interface IRunGroup {
  /** The by-params' values; null for runs without the param. */
  key: { [column: string]: JSONValue };
  runs: number;
  metrics: { [metric: string]: IGroupStats };
}

export interface IGroupsPage {
  total: number;
  by: string[];
  metrics: string[];
  groups: IRunGroup[];
}

export interface IGroupsQuery {
  by: string[];
  experiment?: string;
  filter?: string;
  q?: string;
  metrics?: string[];
  sort?: string;
  order?: 'asc' | 'desc';
  limit?: number;
  offset?: number;
}

// ------------------------------------------------------------------- requests
const settings = ServerConnection.makeSettings();

async function requestAPI<T>(
  path: string[],
  query: { [key: string]: string | number | undefined } = {},
  init: RequestInit = {}
): Promise<T> {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== '') {
      params.set(key, String(value));
    }
  }
  const search = params.toString();
  const url =
    URLExt.join(
      settings.baseUrl,
      'jupyter-tracker',
      'api',
      ...path.map(encodeURIComponent)
    ) + (search ? `?${search}` : '');
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const text = await response.text();
  let data: any = text;
  try {
    data = text.length > 0 ? JSON.parse(text) : {};
  } catch {
    // Not JSON (a proxy's error page): keep the text for the message.
  }
  if (!response.ok) {
    const message =
      typeof data === 'object' && data && data.message
        ? data.message
        : `${response.status} ${response.statusText}`;
    throw new ServerConnection.ResponseError(response, message);
  }
  return data as T;
}

export function fetchStatus(): Promise<IStatus> {
  return requestAPI<IStatus>(['status']);
}

export function fetchExperiments(q?: string): Promise<{ experiments: IExperiment[] }> {
  return requestAPI(['experiments'], { q });
}

export function fetchColumns(): Promise<IColumns> {
  return requestAPI<IColumns>(['columns']);
}

export function fetchRuns(query: IRunsQuery): Promise<IRunsPage> {
  return requestAPI<IRunsPage>(['runs'], { ...query });
}

/** A page of the runs table: `fetchTable({experiment: 'churn', sort: 'metrics.acc', limit: 100})`. */
export function fetchTable(query: ITableQuery): Promise<ITablePage> {
  const { columns, ...rest } = query;
  return requestAPI<ITablePage>(['table'], { ...rest, columns: columns?.join(',') });
}

/** A page of the runs grouped by params, with each metric's statistics per group. */
export function fetchGroups(query: IGroupsQuery): Promise<IGroupsPage> {
  const { by, metrics, ...rest } = query;
  return requestAPI<IGroupsPage>(['groups'], { ...rest, by: by.join(','), metrics: metrics?.join(',') });
}

export function fetchRun(runId: string): Promise<IRunDetail> {
  return requestAPI<IRunDetail>(['runs', runId]);
}

export function fetchComparison(runIds: string[]): Promise<IComparison> {
  return requestAPI<IComparison>(['compare'], { ids: runIds.join(',') });
}

export function fetchMetricSeries(runId: string, name: string): Promise<IMetricSeries> {
  return requestAPI<IMetricSeries>(['runs', runId, 'metrics', name]);
}

export function startRerun(runId: string, options: IRerunOptions = {}): Promise<IJob> {
  return requestAPI<IJob>(['runs', runId, 'rerun'], {}, {
    method: 'POST',
    body: JSON.stringify(options)
  });
}

export function fetchJob(jobId: string): Promise<IJob> {
  return requestAPI<IJob>(['jobs', jobId]);
}

/** The HTTP status of a failed request, or undefined for a network failure or another error. */
export function errorStatus(error: unknown): number | undefined {
  return error instanceof ServerConnection.ResponseError
    ? error.response.status
    : undefined;
}
