/**
 * sabot-lab's JupyterLab extension: one plugin per feature. Today the Sabot sidebar
 * (`sabot-lab:sidebar`); the job tab, the MIME renderers and the `%%sabot` highlighting are
 * plugins of their own, added to `plugins` below.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';

import { sabotIcon } from './icon';
import { jobTabPlugin } from './jobplugin';
import { SabotSidebar } from './sidebar';

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

const plugins: JupyterFrontEndPlugin<any>[] = [sidebarPlugin, jobTabPlugin];

export default plugins;
