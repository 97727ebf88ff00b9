import { JupyterFrontEnd } from '@jupyterlab/application';
import {
  Clipboard,
  Dialog,
  Notification,
  showDialog
} from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import {
  addIcon,
  closeIcon,
  copyIcon,
  deleteIcon,
  duplicateIcon,
  editIcon,
  historyIcon,
  LabIcon,
  usersIcon
} from '@jupyterlab/ui-components';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { ISecretMeta } from '../api';
import { readOnlyReason } from './access';
import { showAccessDialog } from './accessview';
import { errorMessage } from './form';
import { showHistoryDialog } from './history';
import type { SecretsPanel } from './panel';

/**
 * The IDs of the Secrets panel's commands. Those about one secret take its
 * ID as the `id` argument; without it, the item under the context menu.
 */
export namespace CommandIDs {
  export const create = 'secrets:create';
  export const copy = 'secrets:clone';
  export const edit = 'secrets:edit';
  export const remove = 'secrets:delete';
  export const access = 'secrets:access';
  export const attach = 'secrets:attach';
  export const detach = 'secrets:detach';
  export const copySnippet = 'secrets:copy-snippet';
  export const history = 'secrets:history';
}

/**
 * The options of a listed secret, in order; `null` is a separator. Both its
 * options button and a right click on it open a menu of these.
 */
export const ITEM_MENU: ReadonlyArray<string | null> = [
  CommandIDs.copy,
  CommandIDs.edit,
  CommandIDs.remove,
  CommandIDs.access,
  CommandIDs.attach,
  CommandIDs.detach,
  null,
  CommandIDs.copySnippet,
  CommandIDs.history
];

/**
 * The code a Python cell reads a secret with.
 */
export function pythonSnippet(name: string): string {
  return `os.environ['${name}']`;
}

/**
 * Add the Secrets panel's commands.
 *
 * @param app - the application
 * @param panel - the Secrets panel
 * @param trans - the extension's translation bundle
 */
export function addCommands(
  app: JupyterFrontEnd,
  panel: SecretsPanel,
  trans: TranslationBundle
): void {
  const { commands, shell } = app;
  const model = panel.model.secrets;
  const describedBy = {
    args: {
      type: 'object',
      properties: {
        id: { type: 'string', description: trans.__('The ID of the secret') }
      }
    }
  };

  /**
   * The secret a command is about.
   */
  const secretOf = (args: ReadonlyPartialJSONObject): ISecretMeta | null => {
    const id =
      typeof args.id === 'string' ? args.id : Private.contextMenuId(app, panel);
    return model.secrets.find(secret => secret.id === id) ?? null;
  };

  /**
   * Why a secret of another project cannot be changed here, or the
   * caption for one that can.
   */
  const readOnlyCaption = (
    args: ReadonlyPartialJSONObject,
    caption: string
  ): string => {
    const secret = secretOf(args);
    return secret && !secret.editable ? readOnlyReason(secret, trans) : caption;
  };

  /**
   * Show the panel with a form in place of the list.
   */
  const openForm = async (request: Parameters<SecretsPanel['openForm']>[0]) => {
    shell.activateById(panel.id);
    await panel.openForm(request);
  };

  /**
   * Run a change of the model, telling the user when it fails.
   */
  const change = async (
    call: () => Promise<unknown>,
    failure: string,
    success?: string
  ) => {
    try {
      await call();
      if (success) {
        Notification.success(success, { autoClose: 5000 });
      }
    } catch (error) {
      Notification.error(`${failure} ${errorMessage(error, trans.__)}`, {
        autoClose: false
      });
    }
  };

  /**
   * Add a command that opens a dialog about a project's own secret. A
   * shared secret's caption says which project keeps it instead.
   */
  const addOwnSecretCommand = (
    id: string,
    options: {
      label: string;
      caption: string;
      sharedCaption: (project: string) => string;
      icon: LabIcon;
      open: (secret: ISecretMeta) => Promise<unknown>;
    }
  ) => {
    commands.addCommand(id, {
      label: options.label,
      caption: args => {
        const secret = secretOf(args);
        return secret?.origin === 'shared'
          ? options.sharedCaption(secret.project)
          : options.caption;
      },
      icon: options.icon,
      describedBy,
      isEnabled: args => secretOf(args)?.origin === 'project',
      execute: async args => {
        const secret = secretOf(args);
        if (secret?.origin === 'project') {
          await options.open(secret);
        }
      }
    });
  };

  commands.addCommand(CommandIDs.create, {
    label: trans.__('Create secret'),
    caption: trans.__('Create a secret in this project'),
    icon: args => (args.isPalette ? undefined : addIcon),
    describedBy: { args: { type: 'object', properties: {} } },
    execute: () => openForm({ mode: 'create' })
  });

  commands.addCommand(CommandIDs.copy, {
    label: trans.__('Clone'),
    caption: trans.__('Copy this secret into the project, under a new name'),
    icon: duplicateIcon,
    describedBy,
    isEnabled: args => secretOf(args) !== null,
    execute: async args => {
      const secret = secretOf(args);
      if (secret) {
        await openForm({ mode: 'copy', secret });
      }
    }
  });

  commands.addCommand(CommandIDs.edit, {
    label: trans.__('Edit'),
    caption: args =>
      readOnlyCaption(
        args,
        trans.__('Change the name or the content of this secret')
      ),
    icon: editIcon,
    describedBy,
    isEnabled: args => secretOf(args)?.editable === true,
    execute: async args => {
      const secret = secretOf(args);
      if (secret?.editable) {
        await openForm({ mode: 'edit', secret });
      }
    }
  });

  commands.addCommand(CommandIDs.remove, {
    label: trans.__('Delete'),
    caption: args =>
      readOnlyCaption(args, trans.__('Delete this secret from the project')),
    icon: deleteIcon,
    describedBy,
    isEnabled: args => secretOf(args)?.editable === true,
    execute: async args => {
      const secret = secretOf(args);
      if (!secret?.editable) {
        return;
      }
      const result = await showDialog({
        title: trans.__('Delete secret'),
        body: trans.__(
          'Delete the secret "%1"? Kernels of this project will no longer get it. This cannot be undone.',
          secret.name
        ),
        buttons: [
          Dialog.cancelButton({ label: trans.__('Cancel') }),
          Dialog.warnButton({ label: trans.__('Delete') })
        ]
      });
      if (!result.button.accept) {
        return;
      }
      await change(
        () => model.remove(secret.id),
        trans.__('Secret "%1" could not be deleted.', secret.name),
        trans.__('Secret "%1" has been deleted', secret.name)
      );
    }
  });

  addOwnSecretCommand(CommandIDs.access, {
    label: trans.__('Access'),
    caption: trans.__('Share this secret with the communities of the project'),
    sharedCaption: project =>
      trans.__(
        'Shared by project %1: only that project decides who it is shared with.',
        project
      ),
    icon: usersIcon,
    open: secret => showAccessDialog({ model, secret, trans })
  });

  commands.addCommand(CommandIDs.attach, {
    label: trans.__('Add to project'),
    caption: trans.__("Set this shared secret in the project's kernels"),
    icon: addIcon,
    describedBy,
    isVisible: args => Private.canAdd(secretOf(args)),
    execute: async args => {
      const secret = secretOf(args);
      if (secret && Private.canAdd(secret)) {
        await change(
          () => model.attach(secret.id),
          trans.__(
            'Secret "%1" could not be added to the project.',
            secret.name
          ),
          trans.__('Secret "%1" has been added to the project', secret.name)
        );
      }
    }
  });

  commands.addCommand(CommandIDs.detach, {
    label: trans.__('Remove from project'),
    caption: trans.__(
      "Stop setting this shared secret in the project's kernels"
    ),
    icon: closeIcon,
    describedBy,
    isVisible: args => {
      const secret = secretOf(args);
      return secret?.origin === 'shared' && secret.attached;
    },
    execute: async args => {
      const secret = secretOf(args);
      if (secret?.origin === 'shared' && secret.attached) {
        await change(
          () => model.detach(secret.id),
          trans.__(
            'Secret "%1" could not be removed from the project.',
            secret.name
          ),
          trans.__('Secret "%1" has been removed from the project', secret.name)
        );
      }
    }
  });

  commands.addCommand(CommandIDs.copySnippet, {
    label: trans.__('Copy snippet'),
    caption: args => {
      const secret = secretOf(args);
      return secret
        ? trans.__('Copy %1 to the clipboard', pythonSnippet(secret.name))
        : trans.__('Copy the code that reads this secret in Python');
    },
    icon: copyIcon,
    describedBy,
    isEnabled: args => secretOf(args) !== null,
    execute: args => {
      const secret = secretOf(args);
      if (secret) {
        const snippet = pythonSnippet(secret.name);
        Clipboard.copyToSystem(snippet);
        Notification.success(trans.__('Copied %1 to the clipboard', snippet), {
          autoClose: 3000
        });
      }
    }
  });

  addOwnSecretCommand(CommandIDs.history, {
    label: trans.__('History'),
    caption: trans.__('Show the versions and the activity of this secret'),
    sharedCaption: project =>
      trans.__('Shared by project %1: its history is kept there.', project),
    icon: historyIcon,
    open: secret => showHistoryDialog({ model, secret, trans })
  });
}

namespace Private {
  /**
   * Whether a secret can be added to the project: a shared one not added
   * yet, or added under a name its owner has changed since, which adding
   * again brings up to date.
   */
  export function canAdd(secret: ISecretMeta | null): boolean {
    return (
      secret?.origin === 'shared' &&
      (!secret.attached || secret.not_injected_reason === 'renamed')
    );
  }

  /**
   * The ID of the listed secret the context menu was opened on.
   */
  export function contextMenuId(
    app: JupyterFrontEnd,
    panel: SecretsPanel
  ): string | null {
    const node = app.contextMenuHitTest(
      node => panel.secretIdAt(node) !== null
    );
    return node ? panel.secretIdAt(node) : null;
  }
}
