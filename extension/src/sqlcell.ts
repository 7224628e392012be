/**
 * `%%sabot` cells as SQL: a code cell whose first line starts with `%%sabot` gets the SQL
 * language (`text/x-sql`, which JupyterLab's editor draws with `@codemirror/lang-sql`); every
 * other code cell keeps the kernel's language. Completion of tables, columns and keywords in
 * those cells comes from the kernel (sabot-lab's IPython completer). Editors' tokens also
 * carry CodeMirror's stable token classes (`tok-keyword`, `tok-string`, ...), which user
 * stylesheets and tests can name.
 */
import { syntaxHighlighting } from '@codemirror/language';
import { classHighlighter } from '@lezer/highlight';
import { Cell, ICodeCellModel } from '@jupyterlab/cells';
import {
  EditorExtensionRegistry,
  IEditorExtensionRegistry,
  IEditorLanguageRegistry
} from '@jupyterlab/codemirror';
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
 * function that looks for new cells. An editor applies the language whose loading ends last,
 * so both languages are loaded before a cell's is switched. */
function followCells(notebook: Notebook, languages: IEditorLanguageRegistry): () => void {
  const followed = new WeakSet<ICodeCellModel>();
  const follow = (model: ICodeCellModel) => {
    const wanted = () =>
      isSabotCell(model.sharedModel.getSource()) ? SQL_MIME : notebook.codeMimetype;
    const apply = () => {
      if (model.mimeType === wanted()) {
        return;
      }
      const loading = [languages.getLanguage(wanted()), languages.getLanguage(model.mimeType)];
      void Promise.all(loading).then(() => {
        if (model.mimeType !== wanted()) {
          model.mimeType = wanted();
        }
      });
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
  constructor(private readonly languages: IEditorLanguageRegistry) {}

  createNew(panel: NotebookPanel): IDisposable | void {
    const scan = followCells(panel.content, this.languages);
    void panel.revealed.then(scan);
  }
}

/** Give editors' tokens CodeMirror's stable classes (`tok-keyword`, ...), besides the
 * theme's colours. */
export function addTokenClasses(registry: IEditorExtensionRegistry): void {
  registry.addExtension({
    name: 'sabot-lab:token-classes',
    factory: () =>
      EditorExtensionRegistry.createImmutableExtension(syntaxHighlighting(classHighlighter))
  });
}
