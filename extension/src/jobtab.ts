/**
 * The job tab in the main area: a job's live physical plan (the plan widget's drawing, made by
 * the server extension), its throughput, backpressure and checkpoint charts, the failing
 * task's error and log tail, and "Use in notebook", which puts `job = cluster.job("…")` in
 * the active notebook. It reads the job through the server extension every second until the
 * job ends, then keeps its final figures: it needs no kernel.
 */
import { getJob, IJobDetail } from './api';
import { drawLineChart } from './charts';
import { count, duration, rate } from './format';
import { PollingWidget } from './polling';
import { element, setText } from './rows';

const ENDED = new Set(['FINISHED', 'FAILED', 'CANCELLED']);

/** Where a job is: the cluster's key and the job's id (and name, for the tab's title). */
export interface IJobRef {
  key: string;
  jobId: string;
  name?: string | null;
}

/** Puts a line of code in the active notebook; says where it went. */
export type LineInserter = (line: string) => Promise<string>;

/** The id of the tab of job `ref`. */
export function jobTabId(ref: IJobRef): string {
  return `sabot-job-${ref.key}-${ref.jobId}`;
}

export class JobTab extends PollingWidget {
  constructor(
    readonly ref: IJobRef,
    private insertLine: LineInserter
  ) {
    super();
    this.id = jobTabId(ref);
    this.addClass('jp-SabotJobTab');
    this.title.label = `Job ${ref.name || ref.jobId}`;
    this.title.caption = `Sabot job ${ref.jobId}`;
    this.title.closable = true;
    const head = element('div', 'jp-SabotJobTab-header', this.node);
    element('h2', 'jp-SabotJobTab-name', head, ref.name || 'job');
    element('span', 'jp-SabotJobTab-state', head);
    element('code', 'jp-SabotJobTab-id', head, ref.jobId);
    const use = element('button', 'jp-SabotButton jp-SabotJobTab-use', head, 'Use in notebook');
    use.title = 'Insert job = cluster.job("…") into the active notebook';
    use.onclick = () => void this.use();
    this.note = element('div', 'jp-SabotJobTab-note', this.node);
    this.status = element('div', 'jp-SabotJobTab-status', this.node);
    const figures = element('div', 'jp-SabotJobTab-figures', this.node);
    for (const name of ['rows', 'rate', 'tasks', 'duration', 'attempts']) {
      const figure = element('div', `jp-SabotJobTab-figure jp-SabotJobTab-${name}`, figures);
      element('span', 'jp-SabotJobTab-figureValue', figure);
      element('span', 'jp-SabotJobTab-figureLabel', figure, name);
    }
    this.error = element('pre', 'jp-SabotJobTab-error', this.node);
    element('h3', '', this.node, 'Physical plan');
    this.plan = element('div', 'jp-SabotJobTab-plan', this.node);
    const charts = element('div', 'jp-SabotJobTab-charts', this.node);
    this.throughput = element('div', 'jp-SabotChart jp-SabotJobTab-throughput', charts);
    this.backpressure = element('div', 'jp-SabotChart jp-SabotJobTab-backpressure', charts);
    this.checkpoints = element('div', 'jp-SabotChart jp-SabotJobTab-checkpoints', charts);
    this.failure = element('section', 'jp-SabotJobTab-failure', this.node);
    this.failure.hidden = true;
  }

  /** The last reading shown. */
  get detail(): IJobDetail | null {
    return this.shown;
  }

  protected onAfterAttach(): void {
    this.schedule(0);
  }

  /** Until the job has ended. */
  protected keepPolling(): boolean {
    return this.shown === null || !ENDED.has(this.shown.state);
  }

  /** Read the job and draw it. */
  async refresh(): Promise<void> {
    try {
      this.draw(await getJob(this.ref.key, this.ref.jobId));
      setText(this.status, '');
    } catch (error) {
      setText(this.status, `The job cannot be read: ${(error as Error).message}`);
    }
  }

  private draw(job: IJobDetail): void {
    this.shown = job;
    this.node.dataset.state = job.state;
    const part = (name: string) => this.node.querySelector(`.jp-SabotJobTab-${name}`) as HTMLElement;
    const figure = (name: string, text: string) =>
      setText(part(name).querySelector('.jp-SabotJobTab-figureValue') as HTMLElement, text);
    if (job.name) {
      setText(part('name'), job.name);
      this.title.label = `Job ${job.name}`;
    }
    setText(part('state'), job.state);
    const throughput = job.series.throughput;
    const last = throughput.length ? throughput[throughput.length - 1][1] : null;
    const end = job.finished_at ?? Date.now() / 1000;
    figure('rows', job.rows.toLocaleString('en-US')); // exact: the tab has room
    figure('rate', last === null ? rate(null) : `${count(last)} rows/s`);
    figure('tasks', `${job.tasks_done}/${job.tasks ?? '?'}`);
    figure('duration', duration(Math.max(0, end - job.created_at)));
    figure('attempts', `${job.attempts ?? 1}`);
    setText(this.error, job.error ? job.error.split('\n')[0] : '');
    this.drawPlan(job);
    const start = job.created_at;
    const since = (points: [number, number][]) =>
      points.map(([at, v]) => [at - start, v] as [number, number]);
    const rows = (v: number) => `${count(v)} rows/s`;
    drawLineChart(this.throughput, 'Throughput', since(throughput), rows, 's since start');
    drawLineChart(
      this.backpressure,
      'Backpressure',
      since(job.series.backpressure),
      v => `${Math.round(v * 100)} %`,
      's since start',
      1
    );
    drawLineChart(
      this.checkpoints,
      'Checkpoint duration',
      job.checkpoints.map(c => [c.id, c.duration_s] as [number, number]),
      v => duration(v),
      'checkpoint'
    );
    this.drawFailure(job);
  }

  private drawPlan(job: IJobDetail): void {
    const svg = job.plan.svg;
    if (svg === null) {
      this.plan.replaceChildren();
      element('div', 'jp-SabotJobTab-planNote', this.plan, job.plan.note ?? '');
      this.planSvg = null;
    } else if (svg !== this.planSvg) {
      this.plan.innerHTML = svg; // drawn by the server extension, its text escaped there
      this.planSvg = svg;
    }
  }

  private drawFailure(job: IJobDetail): void {
    const failure = job.failure;
    this.failure.hidden = failure === null;
    if (failure === null || this.failure.dataset.task === failure.task_id) {
      return;
    }
    this.failure.dataset.task = failure.task_id;
    this.failure.replaceChildren();
    element('h3', '', this.failure, `Task ${failure.task_id} failed on ${failure.agent}`);
    element('pre', 'jp-SabotJobTab-failureError', this.failure, failure.error);
    element('h3', '', this.failure, `Its log (last ${failure.log.length} records)`);
    element('pre', 'jp-SabotJobTab-log', this.failure, failure.log.join('\n'));
  }

  private async use(): Promise<void> {
    const line = this.shown?.notebook_line ?? `job = cluster.job("${this.ref.jobId}")`;
    try {
      setText(this.note, `Inserted into ${await this.insertLine(line)}: ${line}`);
    } catch (error) {
      setText(this.note, (error as Error).message);
    }
  }

  private status: HTMLElement;
  private note: HTMLElement;
  private error: HTMLElement;
  private plan: HTMLElement;
  private throughput: HTMLElement;
  private backpressure: HTMLElement;
  private checkpoints: HTMLElement;
  private failure: HTMLElement;
  private shown: IJobDetail | null = null;
  private planSvg: string | null = null;
}
