/**
 * The Sabot sidebar: the clusters the server extension reaches (local ones started from any
 * kernel, remote ones added by URL), each with its agents and newest jobs, refreshed every
 * second while the panel is visible; Cancel and Savepoint on a job, Stop on a local cluster,
 * "New local cluster" (one the Jupyter server starts and owns); a job's name opens its tab.
 */
import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import type { CommandRegistry } from '@lumino/commands';

import {
  addCluster,
  cancelJob,
  IAgent,
  ICluster,
  IJob,
  listClusters,
  newLocalCluster,
  removeCluster,
  savepointJob,
  stopCluster
} from './api';
import { count, duration, rate } from './format';
import { OPEN_JOB } from './jobplugin';
import { PollingWidget } from './polling';
import { element, setText, syncRows } from './rows';

const RUNNING = new Set(['PENDING', 'SCHEDULED', 'RUNNING']);

/** Agents of a local cluster started from the sidebar. */
const NEW_CLUSTER_AGENTS = 2;

export class SabotSidebar extends PollingWidget {
  constructor(private commands: CommandRegistry) {
    super();
    this.id = 'sabot-sidebar';
    this.addClass('jp-SabotSidebar');
    const header = element('div', 'jp-SabotSidebar-header', this.node);
    element('h2', 'jp-SabotSidebar-title', header, 'Sabot clusters');
    const add = element('button', 'jp-SabotButton jp-SabotSidebar-add', header, 'Add by URL');
    add.title = 'Watch a remote JobManager with a read-only token';
    add.onclick = () => this.toggleForm();
    const create = element('button', 'jp-SabotButton jp-SabotSidebar-new', header, 'New local cluster');
    create.title = `Start a local cluster of ${NEW_CLUSTER_AGENTS} agents, owned by the Jupyter server`;
    create.onclick = () => void this.newCluster(create);
    this.form = this.makeForm();
    this.status = element('div', 'jp-SabotSidebar-status', this.node);
    this.list = element('div', 'jp-SabotSidebar-clusters', this.node);
  }

  /** Refresh now, then every second while the panel is shown. */
  protected onAfterShow(): void {
    this.schedule(0);
  }

  protected onAfterAttach(): void {
    if (this.isVisible) {
      this.schedule(0);
    }
  }

  protected onBeforeHide(): void {
    this.unschedule();
  }

  /** While the panel is shown. */
  protected keepPolling(): boolean {
    return this.isVisible;
  }

  /** Ask the server for the clusters and draw them. */
  async refresh(): Promise<void> {
    try {
      this.draw(await listClusters());
    } catch (error) {
      setText(this.status, `The Jupyter server does not answer: ${(error as Error).message}`);
    }
  }

  private draw(clusters: ICluster[]): void {
    const none = 'No cluster yet: start one in a notebook (sl.LocalCluster()) or add one by URL.';
    const shown = this.starting ? 'Starting a local cluster…' : clusters.length === 0 ? none : '';
    setText(this.status, shown);
    syncRows(
      this.list,
      clusters,
      c => c.key,
      c => this.makeCluster(c),
      (el, c) => this.updateCluster(el, c)
    );
  }

  private makeCluster(cluster: ICluster): HTMLElement {
    const section = element('section', 'jp-SabotCluster');
    const head = element('div', 'jp-SabotCluster-header', section);
    element('span', 'jp-SabotCluster-name', head, cluster.name);
    element('span', 'jp-SabotBadge', head, cluster.local ? 'local' : 'watched');
    if (cluster.controlled) {
      const stop = element('button', 'jp-SabotButton jp-mod-warn jp-SabotCluster-stop', head);
      stop.textContent = 'Stop';
      stop.title = 'Stop this cluster: its agents, then its JobManager';
      stop.onclick = () => void this.stop(cluster);
    } else {
      const forget = element('button', 'jp-SabotButton jp-SabotCluster-remove', head, 'Remove');
      forget.title = 'Stop watching this cluster';
      forget.onclick = () => void this.act(() => removeCluster(cluster.key));
    }
    element('div', 'jp-SabotCluster-uri', section, cluster.uri);
    element('div', 'jp-SabotCluster-error', section);
    element('h3', 'jp-SabotCluster-agentsTitle', section);
    element('div', 'jp-SabotAgents', section);
    element('h3', 'jp-SabotCluster-jobsTitle', section);
    element('div', 'jp-SabotJobs', section);
    return section;
  }

  private updateCluster(section: HTMLElement, cluster: ICluster): void {
    const part = (name: string) => section.querySelector(`.jp-SabotCluster-${name}`) as HTMLElement;
    setText(part('error'), cluster.error ?? '');
    setText(part('agentsTitle'), `Agents (${cluster.agents.length})`);
    setText(part('jobsTitle'), `Jobs (${cluster.jobs.length})`);
    const agents = section.querySelector('.jp-SabotAgents') as HTMLElement;
    syncRows(
      agents,
      cluster.agents,
      a => a.uri,
      () => this.makeAgent(),
      (el, a) => this.updateAgent(el, a)
    );
    const jobs = section.querySelector('.jp-SabotJobs') as HTMLElement;
    syncRows(
      jobs,
      cluster.jobs,
      j => j.job_id,
      j => this.makeJob(cluster, j),
      (el, j) => this.updateJob(el, j)
    );
  }

  private makeAgent(): HTMLElement {
    const row = element('div', 'jp-SabotAgent');
    for (const name of ['uri', 'state', 'slots', 'load', 'heartbeat']) {
      element('span', `jp-SabotAgent-${name}`, row);
    }
    return row;
  }

  private updateAgent(row: HTMLElement, agent: IAgent): void {
    const cell = (name: string) => row.querySelector(`.jp-SabotAgent-${name}`) as HTMLElement;
    row.dataset.state = agent.state;
    setText(cell('uri'), agent.uri.replace(/^grpc(\+tls)?:\/\//, ''));
    setText(cell('state'), agent.state);
    setText(cell('slots'), `${agent.running}/${agent.slots} slots`);
    setText(cell('load'), `${Math.round(agent.load * 100)} %`);
    const age = agent.heartbeat_age_s;
    setText(cell('heartbeat'), age === null ? 'no heartbeat' : `♥ ${duration(age)} ago`);
  }

  private makeJob(cluster: ICluster, job: IJob): HTMLElement {
    const row = element('div', 'jp-SabotJob');
    const head = element('div', 'jp-SabotJob-header', row);
    element('span', 'jp-SabotJob-name', head);
    element('span', 'jp-SabotJob-state', head);
    const name = row.querySelector('.jp-SabotJob-name') as HTMLElement;
    name.title = 'Open this job in a tab: its plan, charts and log';
    name.onclick = () => void this.commands.execute(OPEN_JOB, this.jobRef(cluster, row));
    if (cluster.controlled) {
      const cancel = element('button', 'jp-SabotButton jp-SabotJob-cancel', head, 'Cancel');
      cancel.title = 'Cancel this job';
      cancel.onclick = () => void this.act(() => cancelJob(cluster.key, job.job_id));
      const keep = element('button', 'jp-SabotButton jp-SabotJob-savepoint', head, 'Savepoint');
      keep.title = 'Keep a savepoint of this streaming job (submit(..., from_savepoint=path))';
      keep.onclick = () => void this.savepoint(cluster, job, row, keep);
    }
    element('div', 'jp-SabotJob-id', row, job.job_id);
    const figures = element('div', 'jp-SabotJob-figures', row);
    for (const name of ['progress', 'rows', 'rate', 'duration']) {
      element('span', `jp-SabotJob-${name}`, figures);
    }
    element('progress', 'jp-SabotJob-bar', row);
    element('div', 'jp-SabotJob-error', row);
    element('div', 'jp-SabotJob-savepointPath', row);
    return row;
  }

  private jobRef(cluster: ICluster, row: HTMLElement): { [key: string]: string } {
    const name = row.querySelector('.jp-SabotJob-name')?.textContent ?? '';
    return { key: cluster.key, jobId: row.dataset.key ?? '', name };
  }

  private updateJob(row: HTMLElement, job: IJob): void {
    const cell = (name: string) => row.querySelector(`.jp-SabotJob-${name}`) as HTMLElement;
    const running = RUNNING.has(job.state);
    row.dataset.state = job.state;
    setText(cell('name'), job.name ?? 'job');
    setText(cell('state'), job.state);
    setText(cell('progress'), `${job.tasks_done}/${job.tasks} tasks`);
    setText(cell('rows'), `${count(job.rows)} rows`);
    setText(cell('rate'), rate(job.rows_per_s));
    setText(cell('duration'), duration(job.duration_s));
    setText(cell('error'), job.error ? job.error.split('\n')[0] : '');
    const bar = cell('bar') as HTMLProgressElement;
    if (job.bounded || !running) {
      bar.max = Math.max(job.tasks, 1);
      bar.value = running ? job.tasks_done : bar.max;
    } else {
      bar.removeAttribute('value'); // unbounded: no end to measure against
    }
    const cancel = row.querySelector('.jp-SabotJob-cancel') as HTMLButtonElement | null;
    if (cancel) {
      cancel.disabled = !running;
    }
    const keep = row.querySelector('.jp-SabotJob-savepoint') as HTMLButtonElement | null;
    if (keep) {
      keep.hidden = job.bounded; // a savepoint is a streaming job's
      keep.disabled = job.state !== 'RUNNING' || row.dataset.saving === 'yes';
    }
  }

  private async savepoint(
    cluster: ICluster,
    job: IJob,
    row: HTMLElement,
    button: HTMLButtonElement
  ): Promise<void> {
    row.dataset.saving = 'yes';
    button.disabled = true;
    const path = row.querySelector('.jp-SabotJob-savepointPath') as HTMLElement;
    setText(path, 'taking a savepoint…');
    try {
      setText(path, `savepoint: ${await savepointJob(cluster.key, job.job_id)}`);
    } catch (error) {
      setText(path, '');
      await showErrorMessage('Sabot', (error as Error).message);
    } finally {
      delete row.dataset.saving;
    }
    await this.refresh();
  }

  private async newCluster(button: HTMLButtonElement): Promise<void> {
    button.disabled = true;
    this.starting = true;
    setText(this.status, 'Starting a local cluster…');
    try {
      await this.act(async () => {
        try {
          await newLocalCluster(NEW_CLUSTER_AGENTS);
        } finally {
          this.starting = false;
        }
      });
    } finally {
      button.disabled = false;
    }
  }

  private async stop(cluster: ICluster): Promise<void> {
    const answer = await showDialog({
      title: `Stop cluster ${cluster.name}?`,
      body: 'Its running jobs end with it.',
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Stop' })]
    });
    if (answer.button.accept) {
      await this.act(() => stopCluster(cluster.key));
    }
  }

  /** Run an action, say what went wrong if it failed, and refresh. */
  private async act(action: () => Promise<unknown>): Promise<void> {
    try {
      await action();
    } catch (error) {
      await showErrorMessage('Sabot', (error as Error).message);
    }
    await this.refresh();
  }

  private makeForm(): HTMLFormElement {
    const form = element('form', 'jp-SabotSidebar-form', this.node);
    form.hidden = true;
    const field = (name: string, placeholder: string, type = 'text') => {
      const input = element('input', `jp-mod-styled jp-SabotSidebar-${name}`, form);
      input.name = name;
      input.type = type;
      input.placeholder = placeholder;
      return input;
    };
    const uri = field('uri', 'grpc+tls://host:port');
    const token = field('token', 'read-only token', 'password');
    const name = field('name', 'name (optional)');
    element('button', 'jp-SabotButton', form, 'Watch').type = 'submit';
    form.onsubmit = event => {
      event.preventDefault();
      void this.act(async () => {
        await addCluster(uri.value, token.value, name.value);
        form.reset();
        form.hidden = true;
      });
    };
    return form;
  }

  private toggleForm(): void {
    this.form.hidden = !this.form.hidden;
  }

  private form: HTMLFormElement;
  private status: HTMLElement;
  private list: HTMLElement;
  private starting = false;
}
