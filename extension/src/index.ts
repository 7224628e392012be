/**
 * sabot-lab's JupyterLab extension: one plugin per feature: the Sabot sidebar
 * (`sabot-lab:sidebar`), the snapshots of plans, jobs and clusters in notebooks
 * (`sabot-lab:snapshots`), `%%sabot` cells as SQL (`sabot-lab:sql-cells`) and a job's tab
 * (`sabot-lab:job-tab`, see `jobplugin.ts`).
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { IEditorExtensionRegistry, IEditorLanguageRegistry } from '@jupyterlab/codemirror';

import { sabotIcon } from './icon';
import { jobTabPlugin } from './jobplugin';
import { SabotSidebar } from './sidebar';
import { Snapshots } from './snapshot';
import { SqlCells, addTokenClasses } from './sqlcell';

/** The Sabot sidebar in the left area. */
const sidebarPlugin: JupyterFrontEndPlugin<void> = {
  id: 'sabot-lab:sidebar',
  description: 'The Sabot sidebar: clusters, their agents and jobs',
  autoStart: true,
  optional: [ILayoutRestorer],
  activate: (app: JupyterFrontEnd, restorer: ILayoutRestorer | null) => {
    const sidebar = new SabotSidebar(app.commands);
    sidebar.title.icon = sabotIcon;
    sidebar.title.caption = 'Sabot clusters';
    app.shell.add(sidebar, 'left', { rank: 600 });
    restorer?.add(sidebar, sidebar.id);
  }
};

/** Plan, job and cluster snapshots in notebooks, drawn without a kernel. */
const snapshotsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'sabot-lab:snapshots',
  description: 'Draws saved plan, job and cluster views when their widget is not live',
  autoStart: true,
  activate: (app: JupyterFrontEnd) => {
    app.docRegistry.addWidgetExtension('Notebook', new Snapshots());
  }
};

/** `%%sabot` cells highlighted as SQL. */
const sqlCellsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'sabot-lab:sql-cells',
  description: 'Highlights %%sabot cells as SQL',
  autoStart: true,
  requires: [IEditorExtensionRegistry, IEditorLanguageRegistry],
  activate: (
    app: JupyterFrontEnd,
    extensions: IEditorExtensionRegistry,
    languages: IEditorLanguageRegistry
  ) => {
    app.docRegistry.addWidgetExtension('Notebook', new SqlCells(languages));
    addTokenClasses(extensions);
  }
};

const plugins: JupyterFrontEndPlugin<any>[] = [
  sidebarPlugin,
  jobTabPlugin,
  snapshotsPlugin,
  sqlCellsPlugin
];

export default plugins;
