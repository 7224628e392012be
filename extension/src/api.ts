/**
 * Calls to sabot-lab's Jupyter server extension (the handlers under `<base_url>sabot/`),
 * authenticated as every JupyterLab request is. Replies never hold a cluster's token.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** An agent as the server extension lists it. */
export interface IAgent {
  uri: string;
  state: string;
  slots: number;
  running: number;
  load: number;
  heartbeat_age_s: number | null;
}

/** A job as the server extension lists it. */
export interface IJob {
  job_id: string;
  name: string | null;
  state: string;
  bounded: boolean;
  error: string | null;
  tasks: number;
  tasks_done: number;
  rows: number;
  rows_per_s: number | null;
  duration_s: number;
}

/** A cluster reached by the server: local (controlled) or added by URL (watched). */
export interface ICluster {
  key: string;
  name: string;
  uri: string;
  local: boolean;
  controlled: boolean;
  agents: IAgent[];
  jobs: IJob[];
  error: string | null;
}

/** Call `path` under `sabot/` with `init`; the parsed JSON reply (null for 204), or an
 * Error carrying the server's message. */
export async function requestAPI<T>(path: string, init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'sabot', path);
  const response = await ServerConnection.makeRequest(url, init, settings);
  const text = await response.text();
  const body = text ? JSON.parse(text) : null;
  if (!response.ok) {
    throw new Error((body && (body.message || body.reason)) || response.statusText);
  }
  return body as T;
}

/** Every cluster reached, with its agents and newest jobs. */
export async function listClusters(): Promise<ICluster[]> {
  const reply = await requestAPI<{ clusters: ICluster[] }>('clusters');
  return reply.clusters;
}

/** Cancel job `jobId` of cluster `key`; its state after. */
export async function cancelJob(key: string, jobId: string): Promise<string> {
  const reply = await requestAPI<{ state: string }>(
    `clusters/${key}/jobs/${encodeURIComponent(jobId)}/cancel`,
    { method: 'POST' }
  );
  return reply.state;
}

/** Stop the local cluster `key`. */
export async function stopCluster(key: string): Promise<void> {
  await requestAPI(`clusters/${key}/stop`, { method: 'POST' });
}

/** Watch the JobManager at `uri` with a (read-only) `token`, kept by the server. */
export async function addCluster(uri: string, token: string, name: string): Promise<void> {
  await requestAPI('clusters', {
    method: 'POST',
    body: JSON.stringify({ uri, token, name: name || null })
  });
}

/** Stop watching the cluster `key` added by URL. */
export async function removeCluster(key: string): Promise<void> {
  await requestAPI(`clusters/${key}`, { method: 'DELETE' });
}

/** `[time, value]` points of a series, oldest first (time: seconds since the epoch). */
export type Series = [number, number][];

/** What the job tab shows of a job (see the server extension's `job_detail`). */
export interface IJobDetail {
  job_id: string;
  name: string | null;
  state: string;
  error: string | null;
  bounded: boolean | null;
  partitions: number | null;
  tasks: number | null;
  tasks_done: number;
  rows: number;
  rows_in: number | null;
  busy_s: number | null;
  backpressure_s: number | null;
  attempts: number | null;
  created_at: number;
  finished_at: number | null;
  series: { throughput: Series; backpressure: Series };
  checkpoints: { id: number; duration_s: number; bytes: number | null }[];
  failure: { task_id: string; agent: string; error: string; log: string[] } | null;
  plan: { svg: string | null; note: string | null };
  notebook_line: string;
}

/** Job `jobId` of cluster `key`, as its tab shows it. */
export async function getJob(key: string, jobId: string): Promise<IJobDetail> {
  return requestAPI<IJobDetail>(`clusters/${key}/jobs/${encodeURIComponent(jobId)}`);
}

/** Take a savepoint of the running job `jobId` of cluster `key`; its path. */
export async function savepointJob(key: string, jobId: string): Promise<string> {
  const reply = await requestAPI<{ path: string }>(
    `clusters/${key}/jobs/${encodeURIComponent(jobId)}/savepoint`,
    { method: 'POST' }
  );
  return reply.path;
}

/** Start a local cluster of `agents` agents owned by the Jupyter server; it, as listed. */
export async function newLocalCluster(agents: number): Promise<ICluster> {
  const reply = await requestAPI<{ cluster: ICluster }>('local-clusters', {
    method: 'POST',
    body: JSON.stringify({ agents })
  });
  return reply.cluster;
}
