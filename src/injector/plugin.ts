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
import { Poll } from '@lumino/polling';
import { Widget } from '@lumino/widgets';

import { SecretsClient } from '../api';
import { DEFAULT_REFRESH_INTERVAL, ISecretsModel } from '../tokens';
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
 * The longest wait between two asks, after failures.
 */
const POLL_MAX_INTERVAL = 60000;

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
    // Conditional fetches: an unchanged environment costs the server a few
    // metadata queries and sends no value.
    // Values are fetched here, not through the model, which holds none.
    const client = new SecretsClient(app.serviceManager.serverSettings);
    let etag: string | null = null;
    const cache = new EnvironmentCache(async () => {
      const answer = await client.environmentIfChanged(etag);
      etag = answer.etag;
      return answer.body;
    });
    const injector = new KernelInjector({
      cache,
      languageOf: kernel =>
        kernelspecs.specs?.kernelspecs[kernel.name]?.language
    });
    const refresh = () => cache.refresh().catch(() => false);

    // Activation waits for the environment and the kernelspecs, so that no
    // notebook starts a kernel before an injection can be queued at once.
    await Private.atMost(
      Promise.all([refresh(), kernelspecs.ready, model.ready]),
      ACTIVATION_TIMEOUT
    );

    // Changes made on other servers of the store (a shared secret edited or
    // unshared there) reach this project's kernels through this poll. After
    // a failure it backs off, so a server that was away is asked again.
    const poll = new Poll({
      factory: () => cache.refresh(),
      frequency: {
        interval: DEFAULT_REFRESH_INTERVAL,
        backoff: true,
        max: POLL_MAX_INTERVAL
      },
      auto: false,
      name: 'jupyterlab-secrets:environment',
      standby: 'never'
    });
    app.restored.then(() => poll.start()).catch(() => undefined);

    // Every change made here refetches the environment. A plain refresh
    // does only when it brought news (a change made in another tab, say):
    // the metadata of what is injected tells, since every edit of a value
    // bumps its version.
    let injected = Private.fingerprint(model);
    model.changed.connect((_, change) => {
      const now = Private.fingerprint(model);
      if (change.type !== 'refresh' || now !== injected) {
        void refresh();
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
}
