/**
 * Snapshots of sabot-lab's plan, job and cluster views: the MIME types the kernel puts next to
 * each widget view (`application/vnd.sabot.{plan,job,cluster}+json`, see
 * `sabot_lab/notebook/snapshot.py`), drawn by the widgets' own code on a model that holds the
 * snapshot. A saved notebook reopened without its kernel shows them; when the widget's model
 * is live in the kernel, the widget takes the output over.
 */
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { INotebookModel, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { IDisposable } from '@lumino/disposable';
import { Panel, Widget } from '@lumino/widgets';

import cluster from './widgets/cluster.js';
import job from './widgets/job.js';
import plan from './widgets/plan.js';

/** The widget view's MIME type (ipywidgets). */
export const WIDGET_MIME = 'application/vnd.jupyter.widget-view+json';

/** The snapshot MIME types, with the widget code drawing each. */
const DRAWINGS: { [mime: string]: IWidgetModule } = {
  'application/vnd.sabot.plan+json': plan,
  'application/vnd.sabot.job+json': job,
  'application/vnd.sabot.cluster+json': cluster
};

/** The snapshot MIME types. */
export const SNAPSHOT_MIMES = Object.keys(DRAWINGS);

/** The layout version of the snapshots this renderer draws. */
const VERSION = 1;

/** Keys a snapshot's drawing never reads from the snapshot: a notebook from elsewhere could
 * hold a link there that runs script when clicked (sabot-lab's own snapshots leave it out). */
const HIDDEN = new Set(['link']);

/** A widget model holding a snapshot: changes (a view toggled, an operator selected) stay in
 * the page; nothing reaches a kernel. */
class SnapshotModel implements IWidgetModel {
  constructor(private readonly state: { [key: string]: any }) {}

  get(key: string): any {
    return HIDDEN.has(key) ? '' : this.state[key];
  }

  set(key: string, value: any): void {
    this.state[key] = value;
    this.emit(`change:${key}`);
    this.emit('change');
  }

  on(event: string, callback: () => void): void {
    const callbacks = this.callbacks.get(event) ?? [];
    this.callbacks.set(event, [...callbacks, callback]);
  }

  off(event: string, callback: () => void): void {
    const callbacks = this.callbacks.get(event) ?? [];
    this.callbacks.set(event, callbacks.filter(c => c !== callback));
  }

  save_changes(): void {
    // a snapshot has no kernel to send its changes to
  }

  send(): void {
    // nor messages (a Cancel, a scale request)
  }

  private emit(event: string): void {
    for (const callback of this.callbacks.get(event) ?? []) {
      callback();
    }
  }

  private readonly callbacks = new Map<string, (() => void)[]>();
}

/** Draw the snapshot `data` of MIME type `mime` into `node`; the function that undoes it.
 * A snapshot of another layout version is refused with a message. */
function drawSnapshot(mime: string, data: any, node: HTMLElement): () => void {
  if (!data || data.version !== VERSION || typeof data.state !== 'object') {
    node.textContent = `This sabot-lab view was saved by another version (${mime}, layout ${
      data && data.version
    }); run the cell again to see it.`;
    return () => undefined;
  }
  const cleanup = DRAWINGS[mime].render({ model: new SnapshotModel({ ...data.state }), el: node });
  return cleanup || (() => undefined);
}

/** Whether the output's kernel is there to hold widget models (a running kernel). */
export type KernelThere = () => boolean;

/**
 * An output with a sabot-lab snapshot: the snapshot, or the live widget when its model is in
 * the kernel. With a kernel there, the widget is tried first and the snapshot drawn only if
 * the widget's model is not found; without one, the snapshot is drawn at once and a widget
 * that later shows (the kernel restored its models) takes over.
 */
export class SnapshotRenderer extends Panel implements IRenderMime.IRenderer {
  constructor(
    private readonly options: IRenderMime.IRendererOptions,
    private readonly liveRenderer: () => IRenderMime.IRenderer | null,
    private readonly kernelThere: KernelThere
  ) {
    super();
    this.addClass('jp-SabotSnapshotOutput');
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    this.clear();
    const mime = this.options.mimeType;
    const widgetView = model.data[WIDGET_MIME] as { model_id?: string } | undefined;
    const live = widgetView && widgetView.model_id ? this.liveRenderer() : null;
    if (!live || !this.kernelThere()) {
      this.showSnapshot(mime, model.data[mime]);
    }
    if (live) {
      void this.tryLive(live, model, () => this.showSnapshot(mime, model.data[mime]));
    }
  }

  dispose(): void {
    this.clear();
    super.dispose();
  }

  /** Render the widget view with `live`; it takes the output over once it holds a widget
   * (now, or when the kernel's models are restored), else `otherwise` runs. */
  private async tryLive(
    live: IRenderMime.IRenderer,
    model: IRenderMime.IMimeModel,
    otherwise: () => void
  ): Promise<void> {
    this.live = live;
    const render = live.renderModel.bind(live);
    const holdsWidget = () => live instanceof Panel && live.widgets.length > 0;
    live.renderModel = async (m: IRenderMime.IMimeModel) => {
      await render(m);
      if (this.isDisposed || this.live !== live) {
        return;
      }
      if (holdsWidget()) {
        this.removeSnapshot();
        if (live.parent !== this) {
          this.addWidget(live);
        }
      } else if (!this.snapshot) {
        otherwise();
      }
    };
    await live.renderModel(model);
  }

  private showSnapshot(mime: string, data: any): void {
    if (this.snapshot) {
      return;
    }
    const snapshot = new Widget();
    snapshot.addClass('jp-SabotSnapshot');
    this.undraw = drawSnapshot(mime, data, snapshot.node);
    this.snapshot = snapshot;
    this.insertWidget(0, snapshot);
  }

  private removeSnapshot(): void {
    this.undraw();
    this.undraw = () => undefined;
    this.snapshot?.dispose();
    this.snapshot = null;
  }

  private clear(): void {
    this.removeSnapshot();
    this.live?.dispose();
    this.live = null;
  }

  private snapshot: Widget | null = null;
  private undraw: () => void = () => undefined;
  private live: IRenderMime.IRenderer | null = null;
}

/** The notebook widget extension that draws snapshots in each notebook, ranked before the
 * widget view, whose renderer it tries first (see {@link SnapshotRenderer}). */
export class Snapshots implements DocumentRegistry.IWidgetExtension<NotebookPanel, INotebookModel> {
  createNew(panel: NotebookPanel): IDisposable | void {
    const rendermime = panel.content.rendermime;
    const liveRenderer = () =>
      rendermime.getFactory(WIDGET_MIME) ? rendermime.createRenderer(WIDGET_MIME) : null;
    const kernelThere = () => {
      const kernel = panel.sessionContext.session?.kernel;
      return !!kernel && kernel.status !== 'dead';
    };
    rendermime.addFactory(snapshotFactory(liveRenderer, kernelThere));
  }
}

/** The renderer factory of the snapshot MIME types for one notebook: `liveRenderer` makes
 * the notebook's widget view renderer (null without one), `kernelThere` says whether its
 * kernel runs. Untrusted outputs too: a snapshot is data, drawn as text and SVG elements. */
export function snapshotFactory(
  liveRenderer: () => IRenderMime.IRenderer | null,
  kernelThere: KernelThere
): IRenderMime.IRendererFactory {
  return {
    safe: true,
    mimeTypes: SNAPSHOT_MIMES,
    defaultRank: -20,
    createRenderer: options => new SnapshotRenderer(options, liveRenderer, kernelThere)
  };
}
