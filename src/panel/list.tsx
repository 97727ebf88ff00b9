import { TranslationBundle } from '@jupyterlab/translation';
import { Button, ellipsesIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { ISecretMeta, NotInjectedReason, SecretsAPIError } from '../api';
import { readOnlyReason } from './access';
import { formatDate, formatRelative } from './time';

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
 * The class of the hint under a section heading.
 */
const SECTION_HINT_CLASS = 'jp-SecretsPanel-sectionHint';

/**
 * The class of one secret in a list.
 */
export const ITEM_CLASS = 'jp-SecretsPanel-item';

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
 * The class of a warning about an item: why kernels do not get it, or that
 * its value is not hidden in outputs.
 */
const ITEM_WARNING_CLASS = 'jp-SecretsPanel-itemWarning';

/**
 * The modifier of an item the project's kernels do not get although they
 * would be expected to.
 */
const NOT_INJECTED_CLASS = 'jp-mod-notInjected';

/**
 * The class of an item's options button.
 */
const ITEM_OPTIONS_CLASS = 'jp-SecretsPanel-itemOptions';

/**
 * The class of the icon of an item's options button.
 */
const ITEM_OPTIONS_ICON_CLASS = 'jp-SecretsPanel-itemOptionsIcon';

/**
 * The CSS property holding the options icon, drawn by a mask in the
 * theme's colour.
 */
const OPTIONS_ICON_PROPERTY = '--jp-secrets-panel-options-icon';

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
   * A time that changes to bring relative times up to date.
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

  const { own, shared } = React.useMemo(() => {
    const own: ISecretMeta[] = [];
    const shared: ISecretMeta[] = [];
    for (const secret of secrets) {
      (secret.origin === 'shared' ? shared : own).push(secret);
    }
    return { own, shared };
  }, [secrets]);

  const query = filter.trim().toLowerCase();
  const matches = (secret: ISecretMeta) =>
    query === '' || secret.name.toLowerCase().includes(query);
  const ownCount = query ? own.filter(matches).length : own.length;
  const sharedCount = query ? shared.filter(matches).length : shared.length;
  const noMatch = ownCount === 0 && sharedCount === 0;

  // `props.now` ticks to bring relative times up to date; they are
  // computed against the clock at the time of rendering.
  const now = Math.max(props.now, Date.now());
  // Items filtered out are hidden, not removed: a thousand of them come
  // back in one keystroke without being built again.
  const renderItems = (items: ISecretMeta[]) =>
    items.map(secret => (
      <SecretItem
        key={secret.id}
        secret={secret}
        hidden={!matches(secret)}
        highlighted={secret.id === props.highlight}
        menuOpen={secret.id === props.menuFor}
        updated={formatRelative(secret.updated_at, now)}
        trans={trans}
        onOptions={props.onOptions}
      />
    ));

  let body: React.ReactNode;
  if (!loaded) {
    body = <p className={PLACEHOLDER_CLASS}>{__('Loading secrets…')}</p>;
  } else if (secrets.length === 0) {
    body = error ? null : <EmptyState trans={trans} />;
  } else {
    body = (
      <>
        {noMatch && (
          <p className={PLACEHOLDER_CLASS} role="status">
            {__('No secret name contains "%1".', filter.trim())}
          </p>
        )}
        {own.length > 0 && (
          <ul
            className={LIST_CLASS}
            aria-label={__('Secrets of this project')}
            hidden={ownCount === 0}
          >
            {renderItems(own)}
          </ul>
        )}
        {shared.length > 0 && (
          <section aria-labelledby={`${id}-shared`} hidden={noMatch}>
            <h3 id={`${id}-shared`} className={SECTION_CLASS}>
              {__('Shared with project')}
            </h3>
            <p className={SECTION_HINT_CLASS}>
              {__(
                'Read-only here: add one to the project to get it in kernels, or clone it to edit a copy.'
              )}
            </p>
            <ul
              className={LIST_CLASS}
              aria-label={__('Secrets shared with this project')}
              hidden={sharedCount === 0}
            >
              {renderItems(shared)}
            </ul>
            {sharedCount === 0 && (
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
    <div className={LIST_VIEW_CLASS} style={Private.optionsIconStyle()}>
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
  hidden: boolean;
  highlighted: boolean;
  menuOpen: boolean;
  updated: string;
  trans: TranslationBundle;
  onOptions: ISecretsListProps['onOptions'];
}

/**
 * One listed secret: its name, `***` in place of the value, and when it
 * was last updated.
 */
const SecretItem = React.memo(
  function SecretItem(props: ISecretItemProps): JSX.Element {
    const { secret, trans } = props;
    const __ = trans.__.bind(trans);
    const shared = secret.origin === 'shared';
    const updated = props.updated;
    const tooltip = [
      __('Created by %1, %2', secret.created_by, formatDate(secret.created_at)),
      __('Updated %1', formatDate(secret.updated_at))
    ];
    let note: string | null = null;
    if (shared) {
      note = `${
        secret.attached ? __('Added to project') : __('Not added to project')
      } · ${__('from project %1, read-only', secret.project)}`;
      tooltip.push(readOnlyReason(secret, trans));
    } else if (secret.shared_with.length > 0) {
      note = __('Shared with %1', secret.shared_with.join(__(', ')));
    }
    const warnings = itemWarnings(secret, trans);
    const notInjected = Private.isKeptOut(secret);

    return (
      <li
        className={`${ITEM_CLASS}${props.highlighted ? ` ${HIGHLIGHT_CLASS}` : ''}${
          notInjected ? ` ${NOT_INJECTED_CLASS}` : ''
        }`}
        {...{ [ITEM_ID_ATTRIBUTE]: secret.id }}
        title={tooltip.join('\n')}
        hidden={props.hidden}
      >
        <div className={ITEM_BODY_CLASS}>
          <span className={ITEM_NAME_CLASS}>{secret.name}</span>
          <span className={ITEM_DETAILS_CLASS}>
            <span className={ITEM_VALUE_CLASS}>***</span>
            <time dateTime={secret.updated_at}>{updated}</time>
          </span>
          {note && <span className={ITEM_NOTE_CLASS}>{note}</span>}
          {warnings.map(warning => (
            <span key={warning} className={ITEM_WARNING_CLASS}>
              {warning}
            </span>
          ))}
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
          <span className={ITEM_OPTIONS_ICON_CLASS} aria-hidden="true" />
        </button>
      </li>
    );
  },
  (before, after) => Private.sameItem(before, after)
);

/**
 * What the list says under an item about its state, as the server
 * explains it: why the project's kernels do not get it, and whether its
 * value is hidden in outputs. Nothing is worked out here.
 *
 * @param secret - the secret as listed
 * @param trans - the extension's translation bundle
 */
export function itemWarnings(
  secret: ISecretMeta,
  trans: TranslationBundle
): string[] {
  const warnings: string[] = [];
  // `shadowed` also tells of a shared secret that would be kept out if added.
  if (secret.shadowed || secret.not_injected_reason === 'shadowed') {
    warnings.push(
      trans.__(
        "This project's own secret of the same name wins: kernels get that one."
      )
    );
  }
  const reason = Private.reasonWarning(secret, trans);
  if (reason !== null) {
    warnings.push(reason);
  }
  if (!secret.hidden_in_outputs) {
    warnings.push(
      trans.__('Too short to hide in outputs: a cell that prints it shows it.')
    );
  }
  return warnings;
}

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

namespace Private {
  /**
   * The options icon for every item at once: a thousand inline SVG icons
   * cost more to build and lay out than the rest of the list.
   */
  export function optionsIconStyle(): React.CSSProperties {
    if (!iconStyle) {
      const url = `url("data:image/svg+xml,${encodeURIComponent(
        ellipsesIcon.svgstr
      )}")`;
      iconStyle = { [OPTIONS_ICON_PROPERTY]: url } as React.CSSProperties;
    }
    return iconStyle;
  }

  let iconStyle: React.CSSProperties | null = null;

  /**
   * Whether an item would render the same: a refresh brings new objects
   * for unchanged secrets, which need no new rendering.
   */
  export function sameItem(
    before: ISecretItemProps,
    after: ISecretItemProps
  ): boolean {
    for (const key of Object.keys(after) as Array<keyof ISecretItemProps>) {
      if (key !== 'secret' && before[key] !== after[key]) {
        return false;
      }
    }
    const a = before.secret;
    const b = after.secret;
    return (
      a === b ||
      (a.id === b.id &&
        a.name === b.name &&
        a.project === b.project &&
        a.created_by === b.created_by &&
        a.created_at === b.created_at &&
        a.updated_at === b.updated_at &&
        a.origin === b.origin &&
        a.attached === b.attached &&
        a.editable === b.editable &&
        a.shadowed === b.shadowed &&
        a.injected === b.injected &&
        a.not_injected_reason === b.not_injected_reason &&
        a.attached_name === b.attached_name &&
        a.hidden_in_outputs === b.hidden_in_outputs &&
        a.shared_with.join('\n') === b.shared_with.join('\n'))
    );
  }

  /**
   * What the list says of why the server does not inject a secret, beyond
   * what the item shows already. Every reason has its case, so a reason the
   * server adds does not compile here until the list says something of it.
   */
  export function reasonWarning(
    secret: ISecretMeta,
    trans: TranslationBundle
  ): string | null {
    const reason: NotInjectedReason | null = secret.not_injected_reason;
    switch (reason) {
      case null:
      // The item says it is not added, and offers to add it.
      case 'not_added':
      // Told with the shared secrets that would be kept out if added.
      case 'shadowed':
        return null;
      case 'traffic':
        return trans.__(
          'Not injected: a name that redirects network traffic is never taken from another project.'
        );
      case 'shared_name':
        return trans.__(
          "Not injected: a secret from another project reaches kernels only under a name with a hyphen (such as my-api-key), which no common tool reads. Clone it to make it this project's own."
        );
      case 'renamed':
        return secret.attached_name
          ? trans.__(
              'Renamed by its owner since it was added as %1: add it again to use it.',
              secret.attached_name
            )
          : trans.__(
              'Renamed by its owner since it was added: add it again to use it.'
            );
      case 'undecryptable':
        return trans.__('Cannot be decrypted with the configured key.');
      case 'reserved':
        return secret.editable
          ? trans.__(
              'Not injected: this name is reserved, since setting it changes what a shell or an interpreter runs. Rename it to use it.'
            )
          : trans.__(
              'Not injected: this name is reserved, since setting it changes what a shell or an interpreter runs.'
            );
    }
  }

  /**
   * Whether the server keeps a secret out of kernels that would otherwise
   * get it: one of the project's own, or one added to it.
   */
  export function isKeptOut(secret: ISecretMeta): boolean {
    const reason = secret.not_injected_reason;
    return reason !== null && reason !== 'not_added';
  }
}
