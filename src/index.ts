import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';

import { SecretsClient } from './api';
import { kernelStatusPlugin } from './injector/plugin';
import { SecretsModel } from './model';
import { panelPlugin } from './panel/plugin';
import { ISecretsModel } from './tokens';

export * from './api';
export * from './names';
export * from './tokens';
export { SecretsModel } from './model';

/**
 * Provides the project's secrets model, shared by the panel and the kernel status.
 */
const modelPlugin: JupyterFrontEndPlugin<ISecretsModel> = {
  id: 'jupyterlab-secrets:model',
  description: 'Provides the secrets of the current project (metadata only).',
  autoStart: true,
  provides: ISecretsModel,
  activate: (app: JupyterFrontEnd): ISecretsModel => {
    return new SecretsModel(
      new SecretsClient(app.serviceManager.serverSettings)
    );
  }
};

export default [modelPlugin, panelPlugin, kernelStatusPlugin];
