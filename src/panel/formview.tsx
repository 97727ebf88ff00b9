import { TranslationBundle } from '@jupyterlab/translation';
import { Button } from '@jupyterlab/ui-components';
import * as React from 'react';

import { ISecretMeta } from '../api';
import { ISecretsModel } from '../tokens';
import {
  FormRequest,
  IFormValues,
  IServerProblem,
  buildUpdate,
  changedFields,
  cloneName,
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
 * The class of the masked content field.
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
   * Whether the content may be shown on request.
   */
  allowShowContent: boolean;
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
 * The Create, Clone and Edit form. It holds the content only while open,
 * and keeps everything typed when the server refuses it.
 */
export function SecretForm(props: ISecretFormProps): JSX.Element {
  const { request, model, trans, allowShowContent, onDone, onDirtyChange } =
    props;
  const __ = trans.__.bind(trans);
  const id = React.useId();
  const nameId = `${id}-name`;
  const contentId = `${id}-content`;
  const secret = request.mode === 'create' ? null : request.secret;
  const needsValue = secret !== null;

  const [base, setBase] = React.useState<Private.IBase>(() =>
    Private.initialBase(request, model)
  );
  const [values, setValues] = React.useState<IFormValues>(base.values);
  const [loading, setLoading] = React.useState(needsValue);
  const [contentKnown, setContentKnown] = React.useState(!needsValue);
  const [touched, setTouched] = React.useState(false);
  const [submitted, setSubmitted] = React.useState(false);
  const [busy, setBusy] = React.useState(false);
  const [problem, setProblem] = React.useState<IServerProblem | null>(null);
  const [notice, setNotice] = React.useState<string | null>(null);
  const [shown, setShown] = React.useState(false);
  const [, setNamesVersion] = React.useState(0);

  const nameRef = React.useRef<HTMLInputElement>(null);
  const contentRef = React.useRef<HTMLTextAreaElement>(null);
  const alive = React.useRef(true);

  React.useEffect(() => {
    alive.current = true;
    nameRef.current?.focus();
    return () => {
      alive.current = false;
    };
  }, []);

  // The names taken may change while the form is open.
  React.useEffect(() => {
    const onChanged = () => setNamesVersion(n => n + 1);
    model.changed.connect(onChanged);
    return () => {
      model.changed.disconnect(onChanged);
    };
  }, [model]);

  // Clone and Edit show the stored content, fetched only now.
  React.useEffect(() => {
    if (!secret) {
      return;
    }
    model.reveal(secret.id).then(
      value => {
        if (!alive.current) {
          return;
        }
        setBase(old => ({ ...old, values: { ...old.values, content: value } }));
        setValues(old =>
          old.content === '' ? { ...old, content: value } : old
        );
        setContentKnown(true);
        setLoading(false);
      },
      error => {
        if (!alive.current) {
          return;
        }
        setProblem(serverProblem(error, __));
        setLoading(false);
      }
    );
  }, []);

  const dirty =
    values.name !== base.values.name || values.content !== base.values.content;
  React.useEffect(() => {
    onDirtyChange?.(dirty);
  }, [dirty]);

  const taken = takenNames(model.ownNames(), base.meta?.name);
  const problems = validate(values, taken, __);
  // Without the stored content, an empty field means "keep it".
  const keepContent = !contentKnown && values.content === '';
  if (keepContent) {
    problems.content = null;
  }
  const nameMessage =
    problem?.field === 'name'
      ? problem.message
      : touched || submitted || values.name !== ''
        ? problems.name
        : null;
  const contentMessage =
    problem?.field === 'content'
      ? problem.message
      : submitted || values.content !== ''
        ? problems.content
        : null;
  const formMessage = problem && problem.field === null ? problem : null;

  const setField = (field: keyof IFormValues, value: string) => {
    setValues(old => ({ ...old, [field]: value }));
    if (field === 'name') {
      setTouched(true);
    }
    if (problem?.field === field) {
      setProblem(null);
    }
  };

  const submit = async () => {
    if (busy || loading) {
      return;
    }
    setSubmitted(true);
    if (problems.name) {
      nameRef.current?.focus();
      return;
    }
    if (problems.content) {
      contentRef.current?.focus();
      return;
    }
    setBusy(true);
    setProblem(null);
    setNotice(null);
    try {
      const changes = changedFields(base.values, values);
      let result: ISecretMeta | null = null;
      if (request.mode === 'create') {
        result = await model.create(values.name, values.content);
      } else if (request.mode === 'clone') {
        // Unchanged content is copied by the server, byte for byte.
        result = await model.copy(
          request.secret.id,
          values.name,
          keepContent ? undefined : changes.value
        );
      } else {
        const current = keepContent
          ? { ...values, content: base.values.content }
          : values;
        const update = buildUpdate(base.meta!.version, base.values, current);
        if (update) {
          result = await model.update(request.secret.id, update);
        }
      }
      if (alive.current) {
        onDone(result?.id ?? secret?.id ?? null);
      }
    } catch (error) {
      if (!alive.current) {
        return;
      }
      const refused = serverProblem(error, __);
      setProblem(refused);
      setBusy(false);
      if (refused.field === 'name') {
        nameRef.current?.focus();
      } else if (refused.field === 'content') {
        contentRef.current?.focus();
      }
    }
  };

  const reload = async () => {
    if (!secret) {
      return;
    }
    setBusy(true);
    try {
      const [meta, value] = await Promise.all([
        model.get(secret.id),
        model.reveal(secret.id)
      ]);
      if (!alive.current) {
        return;
      }
      const latest = { name: meta.name, content: value };
      const merged = mergeReloaded(base.values, values, latest);
      setBase({ meta, values: latest });
      setValues(merged);
      setContentKnown(true);
      setProblem(null);
      setNotice(
        merged.name !== latest.name || merged.content !== latest.content
          ? __(
              'The form now holds the latest version, with your changes kept. Save to apply them.'
            )
          : __('The form now holds the latest version.')
      );
    } catch (error) {
      if (alive.current) {
        setProblem(serverProblem(error, __));
      }
    } finally {
      if (alive.current) {
        setBusy(false);
      }
    }
  };

  const onKeyDown = (event: React.KeyboardEvent) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      onDone(null);
    }
  };

  const onContentKeyDown = (event: React.KeyboardEvent) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      event.stopPropagation();
      void submit();
    }
  };

  const title =
    request.mode === 'create'
      ? __('Create secret')
      : request.mode === 'clone'
        ? __('Clone secret')
        : __('Edit secret');
  const masked = !(allowShowContent && shown);
  const nameDescribedBy = `${nameId}-problem ${nameId}-hint`;
  const contentDescribedBy = `${contentId}-problem ${contentId}-hint`;

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
            '3 to 63 Latin letters, digits, hyphens or underscores; it starts with a letter and ends with a letter or a digit.'
          )}
        </div>
      </div>
      <div className={FIELD_CLASS}>
        <div className={LABEL_ROW_CLASS}>
          <label htmlFor={contentId}>{__('Content')}</label>
          {allowShowContent && (
            <Button
              type="button"
              minimal
              small
              aria-controls={contentId}
              onClick={() => setShown(!shown)}
            >
              {shown ? __('Hide content') : __('Show content')}
            </Button>
          )}
        </div>
        <textarea
          ref={contentRef}
          id={contentId}
          className={`jp-mod-styled${masked ? ` ${MASKED_CLASS}` : ''}`}
          rows={6}
          value={values.content}
          disabled={loading}
          placeholder={
            loading
              ? __('Loading…')
              : keepContent && secret
                ? __('Leave empty to keep the stored value')
                : ''
          }
          autoComplete="off"
          autoCorrect="off"
          autoCapitalize="off"
          spellCheck={false}
          aria-required={true}
          aria-invalid={contentMessage !== null}
          aria-describedby={contentDescribedBy}
          onChange={event => setField('content', event.target.value)}
          onKeyDown={onContentKeyDown}
        />
        <div
          id={`${contentId}-problem`}
          className={PROBLEM_CLASS}
          aria-live="polite"
        >
          {contentMessage}
        </div>
        <div id={`${contentId}-hint`} className={HINT_CLASS}>
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

namespace Private {
  /**
   * The state the form compares its fields with.
   */
  export interface IBase {
    /**
     * The secret as the form last loaded it; `null` when creating.
     */
    meta: ISecretMeta | null;
    /**
     * The fields as stored, or as proposed for a new secret.
     */
    values: IFormValues;
  }

  /**
   * The fields a form opens with; the content comes later, when revealed.
   */
  export function initialBase(
    request: FormRequest,
    model: ISecretsModel
  ): IBase {
    switch (request.mode) {
      case 'create':
        return { meta: null, values: { name: '', content: '' } };
      case 'clone':
        return {
          meta: null,
          values: {
            name: cloneName(request.secret.name, model.ownNames()),
            content: ''
          }
        };
      case 'edit':
        return {
          meta: request.secret,
          values: { name: request.secret.name, content: '' }
        };
    }
  }
}
