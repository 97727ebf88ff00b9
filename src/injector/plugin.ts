import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  ISessionContext,
  IToolbarWidgetRegistry,
  Notification
} from '@jupyterlab/apputils';
import { ConsolePanel, IConsoleTracker } from '@jupyterlab/console';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { ISecretsModel } from '../tokens';
// Toolbar factories must return their widget at once: no await there.
// eslint-disable-next-line jupyter/prefer-lazy-imports
import { SecretsStatus } from './status';
// The tracker must hear kernels from the first one shown.
// eslint-disable-next-line jupyter/prefer-lazy-imports
import { DEFAULT_STATUS_INTERVAL, KernelSecretsTracker } from './tracker';

/**
 * The command IDs of the kernel status.
 */
export namespace CommandIDs {
  /**
   * Ask the server to set the secrets in the current kernel again.
   */
  export const reload = 'secrets:reload-kernel';
}

/**
 * The ID of the plugin, which is also the ID of its settings.
 */
const PLUGIN_ID = 'jupyterlab-secrets:kernel-status';

/**
 * The name of the toolbar item in notebooks and consoles.
 */
const TOOLBAR_ITEM = 'secrets';

/**
 * Shows, in the toolbar of every notebook and console, which secrets the
 * server has set in its kernel, and offers to set them again.
 *
 * The server sets the secrets in every kernel it starts, whichever client
 * started it; the page only shows what the server says. Activation asks
 * nothing of the network: each item says "loading" until the answer is in.
 */
export const kernelStatusPlugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'Shows how many secrets each notebook and console kernel has, and reloads them.',
  autoStart: true,
  requires: [ISecretsModel],
  optional: [
    INotebookTracker,
    IConsoleTracker,
    ICommandPalette,
    IToolbarWidgetRegistry,
    ISettingRegistry,
    ITranslator
  ],
  activate: (
    app: JupyterFrontEnd,
    model: ISecretsModel,
    notebooks: INotebookTracker | null,
    consoles: IConsoleTracker | null,
    palette: ICommandPalette | null,
    toolbarRegistry: IToolbarWidgetRegistry | null,
    settingRegistry: ISettingRegistry | null,
    translator: ITranslator | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_secrets');
    const tracker = new KernelSecretsTracker({
      fetch: kernelId => model.kernelSecrets(kernelId),
      reload: kernelId => model.reloadKernel(kernelId),
      interval: DEFAULT_STATUS_INTERVAL
    });

    // A change of the secrets (here, or seen by the panel's list) changes
    // what the server sets in the kernels.
    model.changed.connect(() => tracker.secretsChanged());

    if (toolbarRegistry) {
      // Notebook and console panels both carry a session context.
      const factory = (widget: Widget) =>
        new SecretsStatus({
          tracker,
          sessionContext: (widget as NotebookPanel | ConsolePanel)
            .sessionContext,
          translator
        });
      toolbarRegistry.addFactory('Notebook', TOOLBAR_ITEM, factory);
      toolbarRegistry.addFactory('ConsolePanel', TOOLBAR_ITEM, factory);
    }

    if (settingRegistry) {
      // Not awaited: the settings come over the network.
      settingRegistry
        .load(PLUGIN_ID)
        .then(loaded => {
          const apply = () => {
            const seconds = loaded.get('refreshInterval').composite;
            tracker.interval =
              typeof seconds === 'number'
                ? seconds * 1000
                : DEFAULT_STATUS_INTERVAL;
          };
          apply();
          loaded.changed.connect(apply);
        })
        .catch(reason => {
          console.error(
            'The settings of the kernel secrets status could not be loaded.',
            reason
          );
        });
    }

    const currentContext = (): ISessionContext | null => {
      const widget = app.shell.currentWidget;
      if (widget && consoles?.currentWidget === widget) {
        return consoles.currentWidget.sessionContext;
      }
      return (
        notebooks?.currentWidget?.sessionContext ??
        consoles?.currentWidget?.sessionContext ??
        null
      );
    };

    app.commands.addCommand(CommandIDs.reload, {
      label: trans.__('Reload secrets into kernel'),
      caption: trans.__(
        'Fetch the project secrets and set them in the current kernel'
      ),
      describedBy: { args: { type: 'object', properties: {} } },
      isEnabled: () => !!currentContext()?.session?.kernel,
      execute: async () => {
        const kernel = currentContext()?.session?.kernel;
        if (!kernel) {
          return;
        }
        let answer;
        try {
          answer = await tracker.reload(kernel.id);
        } catch (error) {
          // The server's message never carries a value.
          Notification.error(
            trans.__(
              'The secrets could not be reloaded: %1',
              (error as Error).message
            )
          );
          return;
        }
        switch (answer.state) {
          case 'loaded':
          case 'pending':
            Notification.success(
              trans._n(
                '%1 secret loaded into the kernel',
                '%1 secrets loaded into the kernel',
                answer.names.length
              ),
              { autoClose: 3000 }
            );
            break;
          case 'unsupported':
            Notification.warning(
              trans.__('Secrets not available in this kernel')
            );
            break;
          default:
            Notification.error(
              answer.message
                ? trans.__(
                    'The kernel could not set the secrets: %1',
                    answer.message
                  )
                : trans.__('The kernel could not set the secrets.')
            );
            break;
        }
      }
    });
    palette?.addItem({
      command: CommandIDs.reload,
      category: trans.__('Secrets')
    });
  }
};
