import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { SidePanel, lockIcon } from '@jupyterlab/ui-components';

import { ISecretsModel } from '../tokens';

/**
 * The left-sidebar Secrets panel.
 */
export const panelPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-secrets:panel',
  description: 'The Secrets panel in the left sidebar.',
  autoStart: true,
  requires: [ISecretsModel],
  optional: [ILayoutRestorer, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    model: ISecretsModel,
    restorer: ILayoutRestorer | null,
    translator: ITranslator | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_secrets');
    const panel = new SidePanel({ translator: translator ?? undefined });
    panel.id = 'jp-secrets-panel';
    panel.title.icon = lockIcon;
    panel.title.caption = trans.__('Secrets');
    panel.node.setAttribute('role', 'region');
    panel.node.setAttribute('aria-label', trans.__('Secrets'));
    app.shell.add(panel, 'left', { rank: 400 });
    restorer?.add(panel, 'jupyterlab-secrets:panel');
    void model.ready;
  }
};
