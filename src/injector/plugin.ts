import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';

import { ISecretsModel } from '../tokens';

/**
 * Sets the project's secrets in every notebook and console kernel.
 */
export const injectorPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-secrets:injector',
  description: 'Sets the project secrets in the environment of every kernel.',
  autoStart: true,
  requires: [ISecretsModel],
  activate: (app: JupyterFrontEnd, model: ISecretsModel): void => {
    void model.ready;
  }
};
