/**
 * `%%sabot` cells as SQL: a code cell whose first line starts with `%%sabot` gets the SQL
 * language (`text/x-sql`, which JupyterLab's editor draws with `@codemirror/lang-sql`); every
 * other code cell keeps the kernel's language. Completion of tables, columns and keywords in
 * those cells comes from the kernel (sabot-lab's IPython completer).
 */
import { Cell, ICodeCellModel } from '@jupyterlab/cells';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { INotebookModel, Notebook, NotebookPanel } from '@jupyterlab/notebook';
import { IDisposable } from '@lumino/disposable';

/** The MIME type of the SQL cells' language. */
export const SQL_MIME = 'text/x-sql';

/** Whether `source` is a `%%sabot` cell.
 *
 * ```ts
 * isSabotCell('%%sabot top <<\nSELECT 1'); // true
 * isSabotCell('%sabot jobs'); // false
 * ```
 */
export function isSabotCell(source: string): boolean {
  return /^%%sabot(\s|$)/.test(source);
}

/** Keep the language of the notebook's code cells in step with their first line; the
 * function that looks for new cells. */
function followCells(notebook: Notebook): () => void {
  const followed = new WeakSet<ICodeCellModel>();
  const follow = (model: ICodeCellModel) => {
    const apply = () => {
      const wanted = isSabotCell(model.sharedModel.getSource())
        ? SQL_MIME
        : notebook.codeMimetype;
      if (model.mimeType !== wanted) {
        model.mimeType = wanted;
      }
    };
    model.contentChanged.connect(apply);
    model.mimeTypeChanged.connect(apply);
    apply();
  };
  const scan = () => {
    for (const cell of notebook.widgets as readonly Cell[]) {
      const model = cell.model;
      if (model.type === 'code' && !followed.has(model as ICodeCellModel)) {
        followed.add(model as ICodeCellModel);
        follow(model as ICodeCellModel);
      }
    }
  };
  notebook.modelContentChanged.connect(scan);
  scan();
  return scan;
}

/** The notebook widget extension that makes `%%sabot` cells SQL. */
export class SqlCells implements DocumentRegistry.IWidgetExtension<NotebookPanel, INotebookModel> {
  createNew(panel: NotebookPanel): IDisposable | void {
    const scan = followCells(panel.content);
    void panel.revealed.then(scan);
  }
}
