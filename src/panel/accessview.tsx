import { Switch, SwitchElement } from '@jupyter/react-components';
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Button, ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import * as React from 'react';

import { ICommunity, ISecretMeta } from '../api';
import { sharedNameRefusal } from '../names';
import { ISecretsModel } from '../tokens';
import {
  IAccessSwitch,
  accessSummary,
  accessSwitches,
  sharesAfter
} from './access';
import { errorMessage } from './form';

/**
 * The class of the Access view.
 */
const ACCESS_CLASS = 'jp-SecretsAccess';

/**
 * The class of the text above the switches.
 */
const SUMMARY_CLASS = 'jp-SecretsAccess-summary';

/**
 * The class of what other projects do with a secret shared under its name.
 */
const NOTE_CLASS = 'jp-SecretsAccess-note';

/**
 * The class of the list of communities.
 */
const LIST_CLASS = 'jp-SecretsAccess-list';

/**
 * The class of one community: its switch and what it means.
 */
const ROW_CLASS = 'jp-SecretsAccess-row';

/**
 * The class of a community's switch.
 */
const SWITCH_CLASS = 'jp-SecretsAccess-switch';

/**
 * The class of what a switch means, or why it cannot be turned.
 */
const DESCRIPTION_CLASS = 'jp-SecretsAccess-description';

/**
 * The class of a message of the view: loading, or an error.
 */
const MESSAGE_CLASS = 'jp-SecretsAccess-message';

/**
 * The modifier of a switch whose change is being sent.
 */
const PENDING_CLASS = 'jp-mod-pending';

/**
 * The properties of the Access view.
 */
export interface IAccessViewProps {
  /**
   * The secrets model, whose list holds the truth about the secret.
   */
  model: ISecretsModel;
  /**
   * The ID of the secret, one of the project's own.
   */
  secretId: string;
  /**
   * The communities of the project, or why they could not be fetched;
   * fetched by the view when omitted.
   */
  communities?: ICommunity[] | Error;
  /**
   * The extension's translation bundle.
   */
  trans: TranslationBundle;
}

/**
 * The Access view of a secret: one switch per community of the project,
 * on when the secret is shared with it. Only an admin of a community can
 * turn its switch; anyone else sees it disabled, and why.
 *
 * A switch shows the change being sent, then the truth: after a refusal it
 * returns to the secret's state as listed, and the server's message shows.
 */
export function AccessView(props: IAccessViewProps): JSX.Element {
  const { model, secretId, trans } = props;
  const __ = trans.__.bind(trans);
  const id = React.useId();

  const [communities, setCommunities] = React.useState<ICommunity[] | null>(
    Array.isArray(props.communities) ? props.communities : null
  );
  const [loadError, setLoadError] = React.useState<string | null>(
    props.communities instanceof Error
      ? errorMessage(props.communities, __)
      : null
  );
  const [pending, setPending] = React.useState<ReadonlyMap<string, boolean>>(
    () => new Map()
  );
  const [error, setError] = React.useState<string | null>(null);

  const alive = React.useRef(true);
  // The changes not sent or not answered yet, by community.
  const pendingRef = React.useRef(new Map<string, boolean>());
  // Changes are sent one after the other, each from the latest truth.
  const queue = React.useRef<Promise<void>>(Promise.resolve());

  const load = React.useCallback(async () => {
    setLoadError(null);
    try {
      const answer = await model.communities();
      if (alive.current) {
        setCommunities(answer);
      }
    } catch (reason) {
      if (alive.current) {
        setLoadError(errorMessage(reason, __));
      }
    }
  }, [model]);

  React.useEffect(() => {
    alive.current = true;
    if (props.communities === undefined) {
      void load();
    }
    return () => {
      alive.current = false;
    };
  }, []);

  const send = async () => {
    const changes = new Map(pendingRef.current);
    const latest = model.secrets.find(s => s.id === secretId);
    if (changes.size === 0 || !latest || !communities) {
      return;
    }
    try {
      await model.setAccess(
        secretId,
        sharesAfter(latest, communities, changes)
      );
    } catch (reason) {
      if (alive.current) {
        setError(errorMessage(reason, __));
      }
    }
    // Sent or refused, these switches now show the truth, unless turned
    // again meanwhile.
    for (const [name, on] of changes) {
      if (pendingRef.current.get(name) === on) {
        pendingRef.current.delete(name);
      }
    }
    if (alive.current) {
      setPending(new Map(pendingRef.current));
    }
  };

  const toggle = (item: IAccessSwitch, on: boolean) => {
    // The switch also tells when it is set back to the truth: only a turn
    // by the user differs from what it shows.
    if (!item.enabled || on === item.checked || !communities) {
      return;
    }
    pendingRef.current.set(item.name, on);
    setPending(new Map(pendingRef.current));
    setError(null);
    queue.current = queue.current.then(send);
  };

  // The secret may change elsewhere while the view is open: it is drawn
  // again on every change of the list.
  const render = (): JSX.Element => {
    const secret = model.secrets.find(s => s.id === secretId) ?? null;
    let body: React.ReactNode = null;
    if (!secret) {
      body = (
        <p className={MESSAGE_CLASS} role="status">
          {__(
            'This secret no longer exists: it may have been deleted elsewhere.'
          )}
        </p>
      );
    } else if (loadError !== null) {
      body = (
        <div className={`${MESSAGE_CLASS} jp-mod-error`} role="alert">
          <span>
            {__('The communities could not be fetched: %1', loadError)}
          </span>
          <Button
            type="button"
            className="jp-mod-styled jp-mod-reject"
            small
            onClick={() => void load()}
          >
            {__('Retry')}
          </Button>
        </div>
      );
    } else if (communities === null) {
      body = (
        <p className={MESSAGE_CLASS} role="status">
          {__('Loading communities…')}
        </p>
      );
    } else {
      const switches = accessSwitches(communities, secret, pending, trans);
      body = (
        <>
          <p className={SUMMARY_CLASS}>
            {accessSummary(
              communities,
              secret,
              model.project ?? secret.project,
              trans
            )}
          </p>
          {switches.length > 0 &&
            sharedNameRefusal(secret.name) === 'shared_name' && (
              <p className={NOTE_CLASS}>
                {__(
                  'Other projects list this secret when it is shared, but their kernels do not get it under this name: a secret from another project is injected only under a name with a hyphen (such as my-api-key), which no common tool reads. They can Clone it, or you can rename it.'
                )}
              </p>
            )}
          {switches.length > 0 && (
            <ul className={LIST_CLASS} aria-label={__('Communities')}>
              {switches.map((item, index) => (
                <li key={item.name} className={ROW_CLASS}>
                  <CommunitySwitch
                    item={item}
                    describedBy={`${id}-${index}`}
                    onTurn={on => toggle(item, on)}
                  />
                  <span id={`${id}-${index}`} className={DESCRIPTION_CLASS}>
                    {item.description}
                  </span>
                </li>
              ))}
            </ul>
          )}
          {error !== null && (
            <div className={`${MESSAGE_CLASS} jp-mod-error`} role="alert">
              {error}
            </div>
          )}
        </>
      );
    }

    return <div className={ACCESS_CLASS}>{body}</div>;
  };

  return <UseSignal signal={model.changed}>{render}</UseSignal>;
}

/**
 * The switch of one community: JupyterLab's switch, showing what `item`
 * says even when the user turned it and the server refused.
 */
function CommunitySwitch(props: {
  item: IAccessSwitch;
  describedBy: string;
  onTurn: (on: boolean) => void;
}): JSX.Element {
  const { item, onTurn } = props;
  const ref = React.useRef<SwitchElement>(null);
  // A turn refused at once leaves `checked` as it was: the element, which
  // turned itself, is set back on every drawing.
  React.useLayoutEffect(() => {
    if (ref.current && ref.current.checked !== item.checked) {
      ref.current.checked = item.checked;
    }
  });
  return (
    <Switch
      ref={ref}
      className={`${SWITCH_CLASS}${item.pending ? ` ${PENDING_CLASS}` : ''}`}
      checked={item.checked}
      disabled={!item.enabled}
      aria-describedby={props.describedBy}
      onChange={event => onTurn((event.target as SwitchElement).checked)}
    >
      {item.name}
    </Switch>
  );
}

/**
 * The options of the Access dialog.
 */
export interface IAccessDialogOptions {
  /**
   * The secrets model.
   */
  model: ISecretsModel;
  /**
   * The secret, one of the project's own.
   */
  secret: ISecretMeta;
  /**
   * The extension's translation bundle.
   */
  trans: TranslationBundle;
}

/**
 * Show the Access view of a secret in a dialog, which Escape closes. The
 * focus starts on the first switch the user may turn.
 */
export async function showAccessDialog(
  options: IAccessDialogOptions
): Promise<void> {
  const { model, secret, trans } = options;
  // Fetched first, so the switches are there to take the focus.
  let communities: ICommunity[] | Error;
  try {
    communities = await model.communities();
  } catch (reason) {
    communities = reason instanceof Error ? reason : new Error(String(reason));
  }
  const body = ReactWidget.create(
    <AccessView
      model={model}
      secretId={secret.id}
      communities={communities}
      trans={trans}
    />
  );
  await showDialog({
    title: trans.__('Access to "%1"', secret.name),
    body,
    buttons: [Dialog.okButton({ label: trans.__('Close') })],
    focusNodeSelector: `.${SWITCH_CLASS}:not([aria-disabled="true"])`
  });
}
