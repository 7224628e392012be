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
