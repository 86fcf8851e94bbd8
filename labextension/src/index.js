// iree-lab-vmfb: a .vmfb in JupyterLab's file browser opens in iree_lab.
//
// Double-click (or Open With -> iree_lab) creates `<file>.ipynb` next to the module, or reuses
// it, with a cell that opens the module in a ModuleExplorer; opens that notebook and runs it.
// The widgets need a kernel and ipywidgets' manager, which a notebook already has: a notebook
// is the one place where everything iree_lab shows works, and the user keeps a normal notebook
// to carry on in. The module's bytes never travel to the browser (the model factory fetches no
// content); the kernel reads the file from disk.
import { ABCWidgetFactory, DocumentWidget, TextModelFactory } from '@jupyterlab/docregistry';
import { NotebookActions } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';

const FILE_TYPE = 'iree-vmfb';
const FACTORY = 'iree_lab';
const MODEL = 'iree-lab-vmfb-model';

// A model that loads nothing: the placeholder below never reads the file.
class NoContentModelFactory extends TextModelFactory {
  get name() { return MODEL; }
  get contentType() { return 'file'; }
  get fileFormat() { return null; }
}

function basename(path) { return path.split('/').pop(); }
function dirname(path) { const i = path.lastIndexOf('/'); return i < 0 ? '' : path.slice(0, i); }

// The notebook for `path`: Python source of the cell that opens it. The name goes in as a
// JSON string literal, which is also a valid Python string literal.
export function notebookFor(path) {
  const name = basename(path);
  const source = [
    'from iree_lab.notebook import ModuleExplorer',
    '',
    `explorer = ModuleExplorer(${JSON.stringify(name)})`,
    'explorer',
  ].join('\n');
  return {
    cells: [
      { id: 'iree-lab-title', cell_type: 'markdown', metadata: {}, source: `# ${name}\n\nOpened with iree_lab. ` +
        '`explorer.module` is the module (`iree_lab.open`); see the tour notebooks for stepping, ' +
        'HAL recordings and executables.' },
      { id: 'iree-lab-explorer', cell_type: 'code', metadata: {}, source, outputs: [], execution_count: null },
    ],
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3 (ipykernel)', language: 'python' },
      language_info: { name: 'python' },
    },
    nbformat: 4,
    nbformat_minor: 5,
  };
}

async function openInNotebook(app, path, status) {
  const contents = app.serviceManager.contents;
  const dir = dirname(path);
  const nbPath = (dir ? dir + '/' : '') + basename(path) + '.ipynb';
  let exists = true;
  try {
    await contents.get(nbPath, { content: false });
  } catch (e) {
    exists = false;
  }
  if (!exists) {
    status(`creating ${nbPath}\u2026`);
    await contents.save(nbPath, { type: 'notebook', format: 'json', content: notebookFor(path) });
  }
  status(`opening ${nbPath}\u2026`);
  const panel = await app.commands.execute('docmanager:open', { path: nbPath, factory: 'Notebook' });
  await panel.context.ready;
  await panel.sessionContext.ready;
  await NotebookActions.runAll(panel.content, panel.sessionContext);
  // Saved with its outputs, so closing the tab asks nothing; the next open runs it again.
  await panel.context.save();
  return panel;
}

class OpeningPanel extends Widget {
  constructor() {
    super();
    this.addClass('iree-lab-vmfb-opening');
    this.node.style.padding = '12px';
    this.node.textContent = 'iree_lab\u2026';
  }
}

class VmfbFactory extends ABCWidgetFactory {
  constructor(app, options) {
    super(options);
    this._app = app;
  }

  createNewWidget(context) {
    const content = new OpeningPanel();
    const widget = new DocumentWidget({ content, context });
    widget.title.label = basename(context.path);
    const status = (text) => { content.node.textContent = `iree_lab: ${text}`; };
    context.ready
      .then(() => openInNotebook(this._app, context.path, status))
      .then(() => widget.close())
      .catch((e) => status(`could not open ${context.path}: ${e && e.message ? e.message : e}`));
    return widget;
  }
}

const plugin = {
  id: 'iree-lab-vmfb:plugin',
  description: 'Opens IREE modules (.vmfb) in iree_lab from the file browser.',
  autoStart: true,
  activate: (app) => {
    app.docRegistry.addFileType({
      name: FILE_TYPE,
      displayName: 'IREE module',
      extensions: ['.vmfb'],
      mimeTypes: ['application/x-iree-vmfb'],
      contentType: 'file',
      fileFormat: null,
    });
    app.docRegistry.addModelFactory(new NoContentModelFactory());
    app.docRegistry.addWidgetFactory(new VmfbFactory(app, {
      name: FACTORY,
      label: 'iree_lab',
      modelName: MODEL,
      fileTypes: [FILE_TYPE],
      defaultFor: [FILE_TYPE],
      readOnly: true,
    }));
  },
};

export default plugin;
