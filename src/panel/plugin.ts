import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { lockIcon } from '@jupyterlab/ui-components';

import { DEFAULT_REFRESH_INTERVAL, ISecretsModel } from '../tokens';
import { addCommands, CommandIDs, ITEM_MENU } from './commands';
import { SecretsPanel } from './panel';

export { CommandIDs } from './commands';
export { SecretsPanel } from './panel';
export { SecretsPanelModel } from './panelmodel';

/**
 * The ID of the panel plugin, which is also the ID of its settings.
 */
const PLUGIN_ID = 'jupyterlab-secrets:panel';

/**
 * The left-sidebar Secrets panel.
 */
export const panelPlugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'The Secrets panel in the left sidebar.',
  autoStart: true,
  requires: [ISecretsModel],
  optional: [ILayoutRestorer, ITranslator, ICommandPalette, ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    model: ISecretsModel,
    restorer: ILayoutRestorer | null,
    translator: ITranslator | null,
    palette: ICommandPalette | null,
    settingRegistry: ISettingRegistry | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_secrets');
    const panel = new SecretsPanel({
      model,
      commands: app.commands,
      itemMenu: ITEM_MENU,
      translator: translator ?? undefined
    });
    panel.id = 'jp-secrets-panel';
    panel.title.icon = lockIcon;
    panel.title.caption = trans.__('Secrets');
    panel.node.setAttribute('role', 'region');
    panel.node.setAttribute('aria-label', trans.__('Secrets'));

    addCommands(app, panel, trans);
    palette?.addItem({
      command: CommandIDs.create,
      category: trans.__('Secrets')
    });
    // The same options on a right click on an item.
    ITEM_MENU.forEach((command, rank) => {
      const selector = SecretsPanel.itemSelector;
      app.contextMenu.addItem(
        command === null
          ? { type: 'separator', selector, rank }
          : { command, selector, rank }
      );
    });

    app.shell.add(panel, 'left', { rank: 400 });
    restorer?.add(panel, PLUGIN_ID);

    if (settingRegistry) {
      settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          const apply = () => {
            panel.model.allowShowValue =
              settings.get('allowShowContent').composite !== false;
            const interval = settings.get('refreshInterval').composite;
            panel.model.refreshInterval =
              typeof interval === 'number'
                ? interval * 1000
                : DEFAULT_REFRESH_INTERVAL;
          };
          apply();
          settings.changed.connect(apply);
        })
        .catch(reason => {
          console.error(
            'The Secrets panel settings could not be loaded.',
            reason
          );
        });
    }
  }
};
