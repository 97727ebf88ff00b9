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
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { ISecretsModel } from '../tokens';
import { EnvironmentCache } from './cache';
import { KernelInjector } from './injector';
import { SecretsStatus } from './status';

/**
 * The command IDs of the injector.
 */
export namespace CommandIDs {
  /**
   * Fetch the secrets anew and set them in the current kernel.
   */
  export const reload = 'secrets:reload-kernel';
}

/**
 * How long activation waits for the first environment, so that a dead
 * server never hangs the application.
 */
const ACTIVATION_TIMEOUT = 5000;

/**
 * The name of the toolbar item in notebooks and consoles.
 */
const TOOLBAR_ITEM = 'secrets';

/**
 * Sets the project's secrets in every notebook and console kernel.
 */
export const injectorPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-secrets:injector',
  description: 'Sets the project secrets in the environment of every kernel.',
  autoStart: true,
  requires: [ISecretsModel],
  optional: [
    INotebookTracker,
    IConsoleTracker,
    ICommandPalette,
    IToolbarWidgetRegistry,
    ITranslator
  ],
  activate: async (
    app: JupyterFrontEnd,
    model: ISecretsModel,
    notebooks: INotebookTracker | null,
    consoles: IConsoleTracker | null,
    palette: ICommandPalette | null,
    toolbarRegistry: IToolbarWidgetRegistry | null,
    translator: ITranslator | null
  ): Promise<void> => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_secrets');
    const kernelspecs = app.serviceManager.kernelspecs;
    const cache = new EnvironmentCache(() => model.client.environment());
    const injector = new KernelInjector({
      cache,
      languageOf: kernel =>
        kernelspecs.specs?.kernelspecs[kernel.name]?.language
    });
    const refresher = new Private.Refresher(cache);

    // Activation waits for the environment and the kernelspecs, so that no
    // notebook starts a kernel before an injection can be queued at once.
    await Private.atMost(
      Promise.all([refresher.refresh(), kernelspecs.ready, model.ready]),
      ACTIVATION_TIMEOUT
    );

    // Every change made here refetches the environment. A plain refresh
    // does only when it brought news (a change made in another tab, say):
    // the metadata of what is injected tells, since every edit of a value
    // bumps its version.
    let injected = Private.fingerprint(model);
    model.changed.connect((_, change) => {
      const now = Private.fingerprint(model);
      if (change.type !== 'refresh' || now !== injected) {
        void refresher.refresh();
      }
      injected = now;
    });

    const watch = (sessionContext: ISessionContext) => {
      const watching = injector.watch(
        sessionContext,
        sessionContext.session?.kernel ?? null
      );
      sessionContext.disposed.connect(() => watching.dispose());
    };
    notebooks?.forEach(panel => watch(panel.sessionContext));
    notebooks?.widgetAdded.connect((_, panel) => watch(panel.sessionContext));
    consoles?.forEach(panel => watch(panel.sessionContext));
    consoles?.widgetAdded.connect((_, panel) => watch(panel.sessionContext));

    if (toolbarRegistry) {
      // Notebook and console panels both carry a session context.
      const factory = (widget: Widget) =>
        new SecretsStatus({
          injector,
          sessionContext: (widget as NotebookPanel | ConsolePanel)
            .sessionContext,
          translator
        });
      toolbarRegistry.addFactory('Notebook', TOOLBAR_ITEM, factory);
      toolbarRegistry.addFactory('ConsolePanel', TOOLBAR_ITEM, factory);
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
      isEnabled: () => !!currentContext()?.session?.kernel,
      execute: async () => {
        const kernel = currentContext()?.session?.kernel;
        if (!kernel) {
          return;
        }
        try {
          await cache.refresh();
        } catch (error) {
          // The server's message never carries a value.
          Notification.error(
            trans.__(
              'The secrets could not be fetched: %1',
              (error as Error).message
            )
          );
          return;
        }
        const state = await injector.inject(kernel);
        switch (state.status) {
          case 'loaded':
            Notification.success(
              trans._n(
                '%1 secret loaded into the kernel',
                '%1 secrets loaded into the kernel',
                state.names.length
              ),
              { autoClose: 3000 }
            );
            break;
          case 'unsupported':
            Notification.warning(
              trans.__('Secrets not available in this kernel')
            );
            break;
          case 'error':
            Notification.error(
              trans.__('The kernel could not set the secrets.')
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

namespace Private {
  const FIRST_RETRY = 5000;
  const LAST_RETRY = 60000;

  /**
   * What the environment depends on, in the model's metadata: the names and
   * versions of the project's own secrets and of the shared ones added.
   */
  export function fingerprint(model: ISecretsModel): string {
    return model.secrets
      .filter(s => s.origin === 'project' || s.attached)
      .map(s => `${s.id}:${s.name}:${s.version}:${s.origin}`)
      .sort()
      .join('|');
  }

  /**
   * Resolve when a promise settles or after a delay, whichever comes first.
   */
  export function atMost(promise: Promise<unknown>, ms: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout>;
    return Promise.race([
      promise.then(
        () => undefined,
        () => undefined
      ),
      new Promise<void>(resolve => {
        timer = setTimeout(resolve, ms);
      })
    ]).finally(() => clearTimeout(timer));
  }

  /**
   * Refreshes the cache, and tries again later after a failure, so that a
   * server that was briefly away does not leave kernels without secrets.
   */
  export class Refresher {
    constructor(cache: EnvironmentCache) {
      this._cache = cache;
    }

    async refresh(): Promise<void> {
      clearTimeout(this._timer);
      try {
        await this._cache.refresh();
        this._delay = FIRST_RETRY;
      } catch {
        this._timer = setTimeout(() => void this.refresh(), this._delay);
        this._delay = Math.min(this._delay * 2, LAST_RETRY);
      }
    }

    private _cache: EnvironmentCache;
    private _delay = FIRST_RETRY;
    private _timer: ReturnType<typeof setTimeout> | undefined = undefined;
  }
}
