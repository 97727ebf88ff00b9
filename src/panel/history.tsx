import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { Time } from '@jupyterlab/coreutils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Button, ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { AuditAction, IAuditEvent, ISecretMeta, ISecretVersion } from '../api';
import { ISecretsModel } from '../tokens';
import { errorMessage } from './form';

/**
 * The class of the History view.
 */
const HISTORY_CLASS = 'jp-SecretsHistory';

/**
 * The class of a section heading of the History view.
 */
const HEADING_CLASS = 'jp-SecretsHistory-heading';

/**
 * The class of a list of the History view.
 */
const LIST_CLASS = 'jp-SecretsHistory-list';

/**
 * The class of an entry of a list.
 */
const ENTRY_CLASS = 'jp-SecretsHistory-entry';

/**
 * The class of an entry's text.
 */
const ENTRY_TEXT_CLASS = 'jp-SecretsHistory-entryText';

/**
 * The class of the line under an entry's title.
 */
const ENTRY_DETAILS_CLASS = 'jp-SecretsHistory-entryDetails';

/**
 * The class of a quiet note in place of a list.
 */
const NOTE_CLASS = 'jp-SecretsHistory-note';

/**
 * The modifier of the current version.
 */
const CURRENT_CLASS = 'jp-mod-current';

/**
 * What the History view needs.
 */
export interface IHistoryOptions {
  /**
   * The model the history is asked of, and a restore is made through.
   */
  model: ISecretsModel;
  /**
   * The secret whose history shows.
   */
  secret: ISecretMeta;
  /**
   * The extension's translation bundle.
   */
  trans: TranslationBundle;
}

/**
 * Show a secret's History: its versions, each but the current one with a
 * Restore button that asks for confirmation, and its audit events.
 *
 * Values never show: the server answers metadata only.
 */
export async function showHistoryDialog(
  options: IHistoryOptions
): Promise<void> {
  const { model, secret, trans } = options;
  // Dialogs do not stack: the History closes while the confirmation shows,
  // and comes back with the outcome.
  for (;;) {
    let chosen: { version: number; current: number } | null = null;
    const body = new HistoryBody({
      load: () =>
        Promise.all([
          model.versions(secret.id),
          model.auditEvents(secret.id).catch(() => null)
        ]),
      trans,
      onRestore: (version, current) => {
        chosen = { version, current };
        dialog.resolve(0);
      }
    });
    const dialog = new Dialog({
      title: trans.__('History of "%1"', secret.name),
      body,
      buttons: [Dialog.cancelButton({ label: trans.__('Close') })],
      hasClose: true
    });
    dialog.addClass(HISTORY_CLASS);
    await dialog.launch();
    dialog.dispose();
    const choice = chosen as { version: number; current: number } | null;
    if (!choice) {
      return;
    }
    const confirmed = await showDialog({
      title: trans.__('Restore version %1?', choice.version),
      body: trans.__(
        'The content of version %1 becomes the content of "%2", as a new version. Kernels of this project get it. The content it replaces stays in the history.',
        choice.version,
        secret.name
      ),
      buttons: [
        Dialog.cancelButton({ label: trans.__('Cancel') }),
        Dialog.warnButton({ label: trans.__('Restore') })
      ]
    });
    if (confirmed.button.accept) {
      try {
        // Through the model, like every change: the list, and the kernels'
        // status with it, follow the new version.
        await model.restore(secret.id, choice.version, choice.current);
        Notification.success(
          trans.__(
            'Secret "%1" has been restored to version %2',
            secret.name,
            choice.version
          ),
          { autoClose: 5000 }
        );
      } catch (error) {
        Notification.error(
          trans.__('Secret "%1" could not be restored.', secret.name) +
            ' ' +
            errorMessage(error, trans.__.bind(trans)),
          { autoClose: false }
        );
      }
    }
  }
}

/**
 * The body of the History dialog.
 */
export class HistoryBody extends ReactWidget {
  /**
   * @param options - how to load the history, and what Restore does
   */
  constructor(options: HistoryBody.IOptions) {
    super();
    this._options = options;
  }

  render(): JSX.Element {
    return <HistoryView {...this._options} />;
  }

  private _options: HistoryBody.IOptions;
}

/**
 * The types of the History dialog's body.
 */
export namespace HistoryBody {
  /**
   * How to load the history, and what Restore does.
   */
  export interface IOptions {
    /**
     * The versions and the audit events (`null` when the server keeps no
     * audit log, or does not let it be read).
     */
    load: () => Promise<[ISecretVersion[], IAuditEvent[] | null]>;
    /**
     * The extension's translation bundle.
     */
    trans: TranslationBundle;
    /**
     * Restore a version; `current` is the version it replaces.
     */
    onRestore: (version: number, current: number) => void;
  }
}

/**
 * The versions and the audit events of a secret; "loading" until they are
 * in.
 */
export function HistoryView(props: HistoryBody.IOptions): JSX.Element {
  const { load, trans, onRestore } = props;
  const [state, setState] = React.useState<
    | { kind: 'loading' }
    | { kind: 'error'; message: string }
    | {
        kind: 'loaded';
        versions: ISecretVersion[];
        events: IAuditEvent[] | null;
      }
  >({ kind: 'loading' });
  const id = React.useId();

  React.useEffect(() => {
    let live = true;
    load()
      .then(([versions, events]) => {
        if (live) {
          setState({ kind: 'loaded', versions, events });
        }
      })
      .catch(error => {
        if (live) {
          setState({
            kind: 'error',
            message: errorMessage(error, trans.__.bind(trans))
          });
        }
      });
    return () => {
      live = false;
    };
  }, [load]);

  if (state.kind === 'loading') {
    return (
      <p className={NOTE_CLASS} role="status">
        {trans.__('Loading the history…')}
      </p>
    );
  }
  if (state.kind === 'error') {
    return (
      <p className={NOTE_CLASS} role="alert">
        {trans.__('The history could not be loaded: %1', state.message)}
      </p>
    );
  }
  const versions = [...state.versions].sort((a, b) => b.version - a.version);
  const current =
    versions.find(v => v.current)?.version ??
    Math.max(0, ...versions.map(v => v.version));
  return (
    <div className={`${HISTORY_CLASS}-body`}>
      <section aria-labelledby={`${id}-versions`}>
        <h3 id={`${id}-versions`} className={HEADING_CLASS}>
          {trans.__('Versions')}
        </h3>
        <ul className={LIST_CLASS} aria-labelledby={`${id}-versions`}>
          {versions.map(version => (
            <li
              key={version.version}
              className={`${ENTRY_CLASS}${version.current ? ` ${CURRENT_CLASS}` : ''}`}
              aria-label={trans.__('Version %1', version.version)}
            >
              <div className={ENTRY_TEXT_CLASS}>
                <div>
                  {version.current
                    ? trans.__('Version %1 (current)', version.version)
                    : trans.__('Version %1', version.version)}
                </div>
                <div className={ENTRY_DETAILS_CLASS}>
                  <time dateTime={version.updated_at}>
                    {Private.formatDate(version.updated_at)}
                  </time>
                  {' · '}
                  {trans.__('by %1', version.updated_by)}
                </div>
              </div>
              {!version.current && (
                <Button
                  type="button"
                  className="jp-mod-styled"
                  small
                  title={trans.__(
                    'Make the content of version %1 the current one',
                    version.version
                  )}
                  onClick={() => onRestore(version.version, current)}
                >
                  {trans.__('Restore')}
                </Button>
              )}
            </li>
          ))}
        </ul>
      </section>
      <section aria-labelledby={`${id}-activity`}>
        <h3 id={`${id}-activity`} className={HEADING_CLASS}>
          {trans.__('Activity')}
        </h3>
        {state.events === null ? (
          <p className={NOTE_CLASS}>
            {trans.__('The activity log is not available on this server.')}
          </p>
        ) : state.events.length === 0 ? (
          <p className={NOTE_CLASS}>{trans.__('No activity recorded.')}</p>
        ) : (
          <ul className={LIST_CLASS} aria-labelledby={`${id}-activity`}>
            {state.events.map(event => (
              <li key={event.id} className={ENTRY_CLASS}>
                <div className={ENTRY_TEXT_CLASS}>
                  <div>{Private.actionLabel(event.action, trans)}</div>
                  <div className={ENTRY_DETAILS_CLASS}>
                    <time dateTime={event.at}>
                      {Private.formatDate(event.at)}
                    </time>
                    {' · '}
                    {trans.__('by %1', event.user)}
                  </div>
                </div>
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}

namespace Private {
  /**
   * A localized date and time; the text itself when it is not a date.
   */
  export function formatDate(value: string): string {
    const date = new Date(value);
    return isNaN(date.getTime()) ? value : Time.format(date);
  }

  /**
   * What an audit action means, in words. The switch covers every action the REST contract
   * names, so an action added there fails the build until it has its words here.
   */
  export function actionLabel(
    action: AuditAction,
    trans: TranslationBundle
  ): string {
    switch (action) {
      case 'create':
        return trans.__('Created');
      case 'update':
        return trans.__('Edited');
      case 'delete':
        return trans.__('Deleted');
      case 'copy':
        return trans.__('Cloned');
      case 'reveal':
        return trans.__('Content shown');
      case 'environment':
        return trans.__('Sent to kernels');
      case 'share':
        return trans.__('Shared with a community');
      case 'unshare':
        return trans.__('Unshared from a community');
      case 'attach':
        return trans.__('Added to a project');
      case 'detach':
        return trans.__('Removed from a project');
      case 'restore':
        return trans.__('Restored an earlier version');
      case 'rotate-key':
        return trans.__('Re-encrypted under a new master key');
      case 'import':
        return trans.__('Imported');
      case 'run':
        return trans.__('Used by a command');
      case 'scan':
        return trans.__('Looked for in files');
      case 'anchor':
        return trans.__('Log anchored by the operator');
      case 'prune':
        return trans.__('Oldest events deleted by the operator');
      case 'hash-chain':
        return trans.__('Log chained by hash on upgrade');
      default: {
        // A newer server's action: show its name rather than nothing.
        const unknown: never = action;
        return String(unknown);
      }
    }
  }
}
