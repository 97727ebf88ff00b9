import { TranslationBundle } from '@jupyterlab/translation';
import { Button } from '@jupyterlab/ui-components';
import * as React from 'react';

import { ISecretMeta } from '../api';
import { ISecretsModel } from '../tokens';
import { isTrafficName, NAME_MAX_LENGTH, NAME_MIN_LENGTH } from '../names';
import {
  FormRequest,
  IFormValues,
  buildUpdate,
  changedFields,
  formReducer,
  initialFormState,
  keepsValue,
  mergeReloaded,
  serverProblem,
  takenNames,
  validate
} from './form';

/**
 * The class of the form.
 */
const FORM_CLASS = 'jp-SecretsPanel-form';

/**
 * The class of the form's title.
 */
const FORM_TITLE_CLASS = 'jp-SecretsPanel-formTitle';

/**
 * The class of a labelled field.
 */
const FIELD_CLASS = 'jp-SecretsPanel-field';

/**
 * The class of the row holding the Content label and its toggle.
 */
const LABEL_ROW_CLASS = 'jp-SecretsPanel-labelRow';

/**
 * The class of a field's explanation of a problem.
 */
const PROBLEM_CLASS = 'jp-SecretsPanel-problem';

/**
 * The class of a field's hint.
 */
const HINT_CLASS = 'jp-SecretsPanel-hint';

/**
 * The class of the Content field while its value is masked.
 */
const MASKED_CLASS = 'jp-mod-masked';

/**
 * The class of a message about the whole form.
 */
const MESSAGE_CLASS = 'jp-SecretsPanel-formMessage';

/**
 * The class of the row of buttons.
 */
const ACTIONS_CLASS = 'jp-SecretsPanel-formActions';

/**
 * The properties of the form.
 */
export interface ISecretFormProps {
  /**
   * What the form is opened for.
   */
  request: FormRequest;
  /**
   * The secrets model the form sends through.
   */
  model: ISecretsModel;
  /**
   * The extension's translation bundle.
   */
  trans: TranslationBundle;
  /**
   * Whether the value may be shown on request.
   */
  allowShowValue: boolean;
  /**
   * Called once the form is done: with the ID of the created or edited
   * secret, or `null` when cancelled.
   */
  onDone: (id: string | null) => void;
  /**
   * Called when the form starts or stops holding unsent changes.
   */
  onDirtyChange?: (dirty: boolean) => void;
}

/**
 * The Create, Clone and Edit form. It holds the value only while open,
 * and keeps everything typed when the server refuses it.
 *
 * Clone and Edit fetch the stored value only when the user asks to see
 * it: a rename, or a new value typed over the old, sends no value to the
 * browser.
 */
export function SecretForm(props: ISecretFormProps): JSX.Element {
  const { request, model, trans, allowShowValue, onDone, onDirtyChange } =
    props;
  const __ = trans.__.bind(trans);
  const id = React.useId();
  const nameId = `${id}-name`;
  const valueId = `${id}-value`;
  const secret = request.mode === 'create' ? null : request.secret;

  const [state, dispatch] = React.useReducer(formReducer, undefined, () =>
    initialFormState(request, model.ownNames())
  );
  const { base, values, busy, problem, notice, shown } = state;
  const loading = state.valueState === 'loading';

  const nameRef = React.useRef<HTMLInputElement>(null);
  const valueRef = React.useRef<HTMLTextAreaElement>(null);
  const alive = React.useRef(true);

  React.useEffect(() => {
    alive.current = true;
    nameRef.current?.focus();
    return () => {
      alive.current = false;
    };
  }, []);

  const dirty =
    values.name !== base.values.name || values.value !== base.values.value;
  React.useEffect(() => {
    onDirtyChange?.(dirty);
  }, [dirty]);

  // The names taken may change while the form is open: the form is drawn
  // again on every change of the model.
  const taken = takenNames(model.ownNames(), base.meta?.name);
  const problems = validate(values, taken, __);
  const keepValue = keepsValue(state);
  if (keepValue) {
    problems.value = null;
  }
  const nameMessage =
    problem?.field === 'name'
      ? problem.message
      : state.touched || state.submitted || values.name !== ''
        ? problems.name
        : null;
  const valueMessage =
    problem?.field === 'value'
      ? problem.message
      : state.submitted || values.value !== ''
        ? problems.value
        : null;
  const formMessage = problem && problem.field === null ? problem : null;

  const refuse = (error: unknown) => {
    if (!alive.current) {
      return;
    }
    const refused = serverProblem(error, __);
    dispatch({ type: 'refused', problem: refused });
    if (refused.field === 'name') {
      nameRef.current?.focus();
    } else if (refused.field === 'value') {
      valueRef.current?.focus();
    }
  };

  const toggleValue = async () => {
    if (shown) {
      dispatch({ type: 'hide' });
      return;
    }
    const fetch = state.valueState === 'unknown' && secret !== null;
    dispatch({ type: 'reveal' });
    if (!fetch) {
      return;
    }
    try {
      const value = await model.reveal(secret.id);
      if (alive.current) {
        dispatch({ type: 'revealed', value });
      }
    } catch (error) {
      refuse(error);
    }
  };

  const submit = async () => {
    if (busy || loading) {
      return;
    }
    dispatch({ type: 'submit' });
    if (problems.name) {
      nameRef.current?.focus();
      return;
    }
    if (problems.value) {
      valueRef.current?.focus();
      return;
    }
    dispatch({ type: 'send' });
    try {
      const changes = changedFields(base.values, values);
      let result: ISecretMeta | null = null;
      if (request.mode === 'create') {
        result = await model.create(values.name, values.value);
      } else if (request.mode === 'copy') {
        // An unchanged value is copied by the server, byte for byte.
        result = await model.copy(
          request.secret.id,
          values.name,
          keepValue ? undefined : changes.value
        );
      } else {
        const update = buildUpdate(base.meta!.version, base.values, values);
        if (update) {
          result = await model.update(request.secret.id, update);
        }
      }
      if (alive.current) {
        onDone(result?.id ?? secret?.id ?? null);
      }
    } catch (error) {
      refuse(error);
    }
  };

  const reload = async () => {
    if (!secret) {
      return;
    }
    dispatch({ type: 'send' });
    try {
      // The stored value is fetched again only if the form held it.
      const known = state.valueState === 'known';
      const [meta, value] = await Promise.all([
        model.get(secret.id),
        known ? model.reveal(secret.id) : Promise.resolve(undefined)
      ]);
      if (!alive.current) {
        return;
      }
      const latest = {
        name: meta.name,
        value: value ?? base.values.value
      };
      const merged = mergeReloaded(base.values, values, latest);
      dispatch({
        type: 'reloaded',
        meta,
        value,
        notice:
          merged.name !== latest.name || merged.value !== latest.value
            ? __(
                'The form now holds the latest version, with your changes kept. Save to apply them.'
              )
            : __('The form now holds the latest version.')
      });
    } catch (error) {
      refuse(error);
    }
  };

  const onKeyDown = (event: React.KeyboardEvent) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      onDone(null);
    }
  };

  const onValueKeyDown = (event: React.KeyboardEvent) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      event.stopPropagation();
      void submit();
    }
  };

  const title =
    request.mode === 'create'
      ? __('Create secret')
      : request.mode === 'copy'
        ? __('Clone secret')
        : __('Edit secret');
  const masked = !(allowShowValue && shown);
  const setField = (field: keyof IFormValues, value: string) =>
    dispatch({ type: 'type', field, value });
  const nameDescribedBy = `${nameId}-problem ${nameId}-hint`;
  const valueDescribedBy = `${valueId}-problem ${valueId}-hint`;

  return (
    <form
      className={FORM_CLASS}
      aria-labelledby={`${id}-title`}
      aria-busy={loading || busy}
      noValidate
      onKeyDown={onKeyDown}
      onSubmit={event => {
        event.preventDefault();
        void submit();
      }}
    >
      <h3 id={`${id}-title`} className={FORM_TITLE_CLASS}>
        {title}
      </h3>
      <div className={FIELD_CLASS}>
        <label htmlFor={nameId}>{__('Name')}</label>
        <input
          ref={nameRef}
          id={nameId}
          className="jp-mod-styled"
          type="text"
          value={values.name}
          autoComplete="off"
          spellCheck={false}
          aria-required={true}
          aria-invalid={nameMessage !== null}
          aria-describedby={nameDescribedBy}
          onChange={event => setField('name', event.target.value)}
        />
        <div
          id={`${nameId}-problem`}
          className={PROBLEM_CLASS}
          aria-live="polite"
        >
          {nameMessage}
        </div>
        <div id={`${nameId}-hint`} className={HINT_CLASS}>
          {__(
            '%1 to %2 Latin letters, digits, hyphens or underscores; it starts with a letter and ends with a letter or a digit.',
            NAME_MIN_LENGTH,
            NAME_MAX_LENGTH
          )}
          {nameMessage === null && isTrafficName(values.name) && (
            <>
              {' '}
              {__(
                "This name redirects network traffic: this project's kernels get it, but other projects never take it from a share."
              )}
            </>
          )}
        </div>
      </div>
      <div className={FIELD_CLASS}>
        <div className={LABEL_ROW_CLASS}>
          <label htmlFor={valueId}>{__('Content')}</label>
          {allowShowValue && (
            <Button
              type="button"
              minimal
              small
              aria-controls={valueId}
              disabled={loading}
              onClick={() => void toggleValue()}
            >
              {shown ? __('Hide content') : __('Show content')}
            </Button>
          )}
        </div>
        <textarea
          ref={valueRef}
          id={valueId}
          className={`jp-mod-styled${masked ? ` ${MASKED_CLASS}` : ''}`}
          rows={6}
          value={values.value}
          disabled={loading}
          placeholder={
            loading
              ? __('Loading…')
              : keepValue && secret
                ? __('Leave empty to keep the stored value')
                : ''
          }
          autoComplete="off"
          autoCorrect="off"
          autoCapitalize="off"
          spellCheck={false}
          aria-required={true}
          aria-invalid={valueMessage !== null}
          aria-describedby={valueDescribedBy}
          onChange={event => setField('value', event.target.value)}
          onKeyDown={onValueKeyDown}
        />
        <div
          id={`${valueId}-problem`}
          className={PROBLEM_CLASS}
          aria-live="polite"
        >
          {valueMessage}
        </div>
        <div id={`${valueId}-hint`} className={HINT_CLASS}>
          {__(
            'Stored encrypted. Several lines, such as a PEM key, are kept as typed. Ctrl+Enter sends the form.'
          )}
        </div>
      </div>
      {formMessage && (
        <div className={`${MESSAGE_CLASS} jp-mod-error`} role="alert">
          <span>{formMessage.message}</span>
          {formMessage.conflict && (
            <Button
              type="button"
              className="jp-mod-styled jp-mod-accept"
              disabled={busy}
              onClick={() => void reload()}
            >
              {__('Reload')}
            </Button>
          )}
        </div>
      )}
      {notice && (
        <div className={MESSAGE_CLASS} role="status">
          {notice}
        </div>
      )}
      <div className={ACTIONS_CLASS}>
        <Button
          type="button"
          className="jp-mod-styled jp-mod-reject"
          onClick={() => onDone(null)}
        >
          {__('Cancel')}
        </Button>
        <Button
          type="submit"
          className="jp-mod-styled jp-mod-accept"
          disabled={busy || loading}
        >
          {request.mode === 'edit' ? __('Save') : __('Create')}
        </Button>
      </div>
    </form>
  );
}
