/**
 * The notebook widgets' drawing code (`sabot_lab/notebook/static/*.js`, anywidget ESM), copied
 * into `lib/widgets/` by `npm run build:lib` and bundled: the snapshot renderer draws with it
 * (their CSS comes in through `style/index.css`).
 */

/** What an anywidget view's `render` is given: a model and the element to draw in. */
interface IWidgetModel {
  get(key: string): any;
  set(key: string, value: any): void;
  on(event: string, callback: () => void): void;
  off(event: string, callback: () => void): void;
  save_changes(): void;
  send(content: any): void;
}

interface IWidgetModule {
  render(props: { model: IWidgetModel; el: HTMLElement }): (() => void) | void;
}

declare module '*/widgets/plan.js' {
  const widget: IWidgetModule;
  export default widget;
}

declare module '*/widgets/job.js' {
  const widget: IWidgetModule;
  export default widget;
}

declare module '*/widgets/cluster.js' {
  const widget: IWidgetModule;
  export default widget;
}
