import { Time } from '@jupyterlab/coreutils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Button, ellipsesIcon, lockIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { ISecretMeta, SecretsAPIError } from '../api';

/**
 * The class of the list view.
 */
const LIST_VIEW_CLASS = 'jp-SecretsPanel-listView';

/**
 * The class of a list of secrets.
 */
const LIST_CLASS = 'jp-SecretsPanel-list';

/**
 * The class of a section heading.
 */
const SECTION_CLASS = 'jp-SecretsPanel-section';

/**
 * The class of one secret in a list.
 */
export const ITEM_CLASS = 'jp-SecretsPanel-item';

/**
 * The class of an item's icon.
 */
const ITEM_ICON_CLASS = 'jp-SecretsPanel-itemIcon';

/**
 * The class of an item's text.
 */
const ITEM_BODY_CLASS = 'jp-SecretsPanel-itemBody';

/**
 * The class of an item's name.
 */
const ITEM_NAME_CLASS = 'jp-SecretsPanel-itemName';

/**
 * The class of the line under the name.
 */
const ITEM_DETAILS_CLASS = 'jp-SecretsPanel-itemDetails';

/**
 * The class of the masked value.
 */
const ITEM_VALUE_CLASS = 'jp-SecretsPanel-itemValue';

/**
 * The class of a shared item's note.
 */
const ITEM_NOTE_CLASS = 'jp-SecretsPanel-itemNote';

/**
 * The class of an item's options button.
 */
const ITEM_OPTIONS_CLASS = 'jp-SecretsPanel-itemOptions';

/**
 * The class of the error banner.
 */
const BANNER_CLASS = 'jp-SecretsPanel-banner';

/**
 * The class of the explanation shown when there are no secrets.
 */
const EMPTY_CLASS = 'jp-SecretsPanel-empty';

/**
 * The class of a short message in place of the list.
 */
const PLACEHOLDER_CLASS = 'jp-SecretsPanel-placeholder';

/**
 * The modifier of a secret just created or edited.
 */
const HIGHLIGHT_CLASS = 'jp-mod-highlighted';

/**
 * The data attribute holding an item's secret ID.
 */
export const ITEM_ID_ATTRIBUTE = 'data-secret-id';

/**
 * The properties of the list view.
 */
export interface ISecretsListProps {
  /**
   * The secrets, own first, then shared with the project.
   */
  secrets: ReadonlyArray<ISecretMeta>;
  /**
   * Whether the first answer of the server has arrived.
   */
  loaded: boolean;
  /**
   * The last error of the list, if any.
   */
  error: SecretsAPIError | null;
  /**
   * The text names must contain to be listed.
   */
  filter: string;
  /**
   * The secret to point out, just created or edited.
   */
  highlight: string | null;
  /**
   * The secret whose menu is open.
   */
  menuFor: string | null;
  /**
   * The time relative times are computed against; changes re-render them.
   */
  now: number;
  /**
   * The extension's translation bundle.
   */
  trans: TranslationBundle;
  /**
   * Open an item's menu below its options button.
   */
  onOptions: (
    secret: ISecretMeta,
    anchor: HTMLElement,
    byKeyboard: boolean
  ) => void;
  /**
   * Fetch the list again.
   */
  onRetry: () => void;
}

/**
 * The project's secrets, then those shared with it. Values are never shown.
 */
export function SecretsList(props: ISecretsListProps): JSX.Element {
  const { secrets, loaded, error, filter, trans } = props;
  const __ = trans.__.bind(trans);
  const id = React.useId();

  const { own, shared, ownNames } = React.useMemo(() => {
    const own: ISecretMeta[] = [];
    const shared: ISecretMeta[] = [];
    for (const secret of secrets) {
      (secret.origin === 'shared' ? shared : own).push(secret);
    }
    return { own, shared, ownNames: new Set(own.map(s => s.name)) };
  }, [secrets]);

  const query = filter.trim().toLowerCase();
  const matches = (secret: ISecretMeta) =>
    query === '' || secret.name.toLowerCase().includes(query);
  const ownShown = query ? own.filter(matches) : own;
  const sharedShown = query ? shared.filter(matches) : shared;

  const renderItems = (items: ISecretMeta[]) =>
    items.map(secret => (
      <SecretItem
        key={secret.id}
        secret={secret}
        clash={secret.origin === 'shared' && ownNames.has(secret.name)}
        highlighted={secret.id === props.highlight}
        menuOpen={secret.id === props.menuFor}
        now={props.now}
        trans={trans}
        onOptions={props.onOptions}
      />
    ));

  let body: React.ReactNode;
  if (!loaded) {
    body = <p className={PLACEHOLDER_CLASS}>{__('Loading secrets…')}</p>;
  } else if (secrets.length === 0) {
    body = error ? null : <EmptyState trans={trans} />;
  } else if (ownShown.length === 0 && sharedShown.length === 0) {
    body = (
      <p className={PLACEHOLDER_CLASS} role="status">
        {__('No secret name contains "%1".', filter.trim())}
      </p>
    );
  } else {
    body = (
      <>
        {ownShown.length > 0 && (
          <ul className={LIST_CLASS} aria-label={__('Secrets of this project')}>
            {renderItems(ownShown)}
          </ul>
        )}
        {shared.length > 0 && (
          <section aria-labelledby={`${id}-shared`}>
            <h3 id={`${id}-shared`} className={SECTION_CLASS}>
              {__('Shared with project')}
            </h3>
            {sharedShown.length > 0 ? (
              <ul
                className={LIST_CLASS}
                aria-label={__('Secrets shared with this project')}
              >
                {renderItems(sharedShown)}
              </ul>
            ) : (
              <p className={PLACEHOLDER_CLASS}>
                {__('No shared secret matches the filter.')}
              </p>
            )}
          </section>
        )}
      </>
    );
  }

  return (
    <div className={LIST_VIEW_CLASS}>
      {error && (
        <div className={BANNER_CLASS} role="alert">
          <span>{error.message}</span>
          <Button
            type="button"
            className="jp-mod-styled jp-mod-reject"
            small
            onClick={props.onRetry}
          >
            {__('Retry')}
          </Button>
        </div>
      )}
      {body}
    </div>
  );
}

/**
 * The properties of one listed secret.
 */
interface ISecretItemProps {
  secret: ISecretMeta;
  clash: boolean;
  highlighted: boolean;
  menuOpen: boolean;
  now: number;
  trans: TranslationBundle;
  onOptions: ISecretsListProps['onOptions'];
}

/**
 * One listed secret: its name, `***` in place of the value, and when it
 * was last updated.
 */
const SecretItem = React.memo(function SecretItem(
  props: ISecretItemProps
): JSX.Element {
  const { secret, trans } = props;
  const __ = trans.__.bind(trans);
  const shared = secret.origin === 'shared';
  const updated = Time.formatHuman(secret.updated_at);
  const tooltip = [
    __('Created by %1, %2', secret.created_by, Time.format(secret.created_at)),
    __('Updated %1', Time.format(secret.updated_at))
  ];
  if (shared) {
    tooltip.push(__('Shared from project %1', secret.project));
  }

  let note: string | null = null;
  if (shared) {
    note = secret.attached
      ? __('Added to project, from %1', secret.project)
      : __('Not added, from %1', secret.project);
    if (props.clash) {
      note += ' · ' + __("this project's own secret of the same name wins");
    }
  }

  return (
    <li
      className={`${ITEM_CLASS}${props.highlighted ? ` ${HIGHLIGHT_CLASS}` : ''}${
        shared && props.clash ? ' jp-mod-clash' : ''
      }`}
      {...{ [ITEM_ID_ATTRIBUTE]: secret.id }}
      title={tooltip.join('\n')}
    >
      <lockIcon.react className={ITEM_ICON_CLASS} tag="span" />
      <div className={ITEM_BODY_CLASS}>
        <span className={ITEM_NAME_CLASS}>{secret.name}</span>
        <span className={ITEM_DETAILS_CLASS}>
          <span className={ITEM_VALUE_CLASS}>***</span>
          <time dateTime={secret.updated_at}>{updated}</time>
        </span>
        {note && <span className={ITEM_NOTE_CLASS}>{note}</span>}
      </div>
      <button
        type="button"
        className={`${ITEM_OPTIONS_CLASS} jp-Button jp-mod-minimal`}
        aria-label={__('Options for %1', secret.name)}
        title={__('Options for %1', secret.name)}
        aria-haspopup="menu"
        aria-expanded={props.menuOpen}
        onClick={event =>
          props.onOptions(secret, event.currentTarget, event.detail === 0)
        }
      >
        <ellipsesIcon.react tag="span" elementPosition="center" />
      </button>
    </li>
  );
});

/**
 * What secrets are and how a cell reads one, shown while there are none.
 */
function EmptyState(props: { trans: TranslationBundle }): JSX.Element {
  const __ = props.trans.__.bind(props.trans);
  const name = __('<name>');
  return (
    <div className={EMPTY_CLASS}>
      <p>
        {__(
          'Secrets keep sensitive values, such as API keys, passwords and tokens, encrypted. Notebook and console cells of this project read them as environment variables, so they never have to be pasted into a notebook.'
        )}
      </p>
      <p>{__('Create a secret, then read it in a Python cell:')}</p>
      <pre>
        <code>{`import os\nos.environ['${name}']`}</code>
      </pre>
      <p>{__('or in a cell that starts with #!:bash:')}</p>
      <pre>
        <code>{`#!:bash\nprintenv ${name}`}</code>
      </pre>
    </div>
  );
}
