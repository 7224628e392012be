/**
 * The job tab's plugin: the command `sabot-lab:open-job` (`{key, jobId, name}`) that the
 * sidebar's job rows run, opening (or showing again) a job's tab in the main area; tabs are
 * restored with the workspace. "Use in notebook" writes into the notebook used last.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { WidgetTracker } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';

import { IJobRef, JobTab, jobTabId } from './jobtab';

/** The command that opens a job's tab. */
export const OPEN_JOB = 'sabot-lab:open-job';

/** Put `line` into the notebook used last: its active cell when empty, else a new cell
 * below it; the notebook's path. */
async function insertInto(tracker: INotebookTracker, line: string): Promise<string> {
  const panel = tracker.currentWidget;
  if (panel === null) {
    throw new Error(`Open a notebook first: ${line} goes into its active cell.`);
  }
  const notebook = panel.content;
  const active = notebook.activeCell;
  if (active === null || active.model.sharedModel.getSource().trim() !== '') {
    NotebookActions.insertBelow(notebook);
  }
  notebook.activeCell!.model.sharedModel.setSource(line);
  return panel.context.path;
}

export const jobTabPlugin: JupyterFrontEndPlugin<void> = {
  id: 'sabot-lab:job-tab',
  description: "A Sabot job's tab: live plan, charts, failure and log",
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ILayoutRestorer],
  activate: (app: JupyterFrontEnd, notebooks: INotebookTracker, restorer: ILayoutRestorer | null) => {
    const tabs = new WidgetTracker<JobTab>({ namespace: 'sabot-job' });
    app.commands.addCommand(OPEN_JOB, {
      label: 'Open Sabot job',
      execute: args => {
        const ref = args as unknown as IJobRef;
        const open = tabs.find(tab => tab.id === jobTabId(ref));
        if (open) {
          app.shell.activateById(open.id);
          return open;
        }
        const tab = new JobTab(ref, line => insertInto(notebooks, line));
        app.shell.add(tab, 'main');
        void tabs.add(tab);
        app.shell.activateById(tab.id);
        return tab;
      }
    });
    if (restorer) {
      void restorer.restore(tabs, {
        command: OPEN_JOB,
        args: tab => ({ ...tab.ref }),
        name: tab => tab.id
      });
    }
  }
};
