/**
 * The logic of the Create, Clone and Edit form, kept apart from React so
 * that it can be tested on its own. Nothing here holds a value longer than
 * the call that receives it.
 */

import { ISecretMeta, ISecretUpdate, SecretsAPIError } from '../api';
import {
  MAX_VALUE_BYTES,
  NAME_MAX_LENGTH,
  Translate,
  checkName,
  describeNameProblem
} from '../names';

/**
 * What a form is opened for.
 */
export type FormRequest =
  | { mode: 'create' }
  | { mode: 'copy'; secret: ISecretMeta }
  | { mode: 'edit'; secret: ISecretMeta };

/**
 * The two fields of the form.
 */
export interface IFormValues {
  name: string;
  value: string;
}

/**
 * Why the form cannot be sent, per field; `null` where the field is fine.
 */
export interface IFormProblems {
  name: string | null;
  value: string | null;
}

/**
 * Why a value is refused; `null` when it is accepted.
 */
export type ValueProblem =
  { kind: 'empty' } | { kind: 'nul' } | { kind: 'too-large'; bytes: number };

/**
 * A refusal of the server, placed where the form shows it.
 */
export interface IServerProblem {
  /**
   * The field at fault, or `null` for the form as a whole.
   */
  field: keyof IFormValues | null;
  /**
   * A readable message: the server's own, or ours when it gave none.
   */
  message: string;
  /**
   * Whether the secret was changed elsewhere since the form was opened.
   */
  conflict: boolean;
}

/**
 * The names an edited or created secret may not take.
 *
 * @param own - the names of the project's own secrets
 * @param current - the edited secret's own name, which it may keep
 */
export function takenNames(
  own: Iterable<string>,
  current?: string
): Set<string> {
  const taken = new Set(own);
  if (current !== undefined) {
    taken.delete(current);
  }
  return taken;
}

/**
 * Check a value against the rules of the server.
 */
export function checkValue(value: string): ValueProblem | null {
  if (value.length === 0) {
    return { kind: 'empty' };
  }
  if (value.includes('\0')) {
    return { kind: 'nul' };
  }
  // A UTF-16 unit takes at most 3 bytes in UTF-8 (a pair takes 4): short
  // texts need no count.
  if (value.length * 3 > MAX_VALUE_BYTES) {
    const bytes = Private.encoder.encode(value).length;
    if (bytes > MAX_VALUE_BYTES) {
      return { kind: 'too-large', bytes };
    }
  }
  return null;
}

/**
 * The translatable explanation of a value problem.
 */
export function describeValueProblem(
  problem: ValueProblem,
  __: Translate
): string {
  switch (problem.kind) {
    case 'empty':
      return __('Enter the content: it cannot be empty.');
    case 'nul':
      return __('The content cannot hold a NUL character.');
    case 'too-large':
      return __(
        'The content is too large: %1 bytes, at most %2 are allowed.',
        problem.bytes.toLocaleString(),
        MAX_VALUE_BYTES.toLocaleString()
      );
  }
}

/**
 * Check both fields.
 *
 * @param values - the fields as typed
 * @param taken - the names the secret may not take
 * @param __ - the translation function
 */
export function validate(
  values: IFormValues,
  taken: Iterable<string>,
  __: Translate
): IFormProblems {
  const name = checkName(values.name, taken);
  const value = checkValue(values.value);
  return {
    name: name ? describeNameProblem(name, __) : null,
    value: value ? describeValueProblem(value, __) : null
  };
}

/**
 * The name proposed for a copy: `<name>-copy`, numbered if that is taken,
 * and shortened if it would be too long.
 *
 * @param name - the name of the copied secret
 * @param taken - the names of the project's own secrets
 */
export function copyName(name: string, taken: Iterable<string>): string {
  const names = new Set(taken);
  for (let n = 1; ; n++) {
    const suffix = n === 1 ? '-copy' : `-copy-${n}`;
    const candidate = name.slice(0, NAME_MAX_LENGTH - suffix.length) + suffix;
    if (!names.has(candidate)) {
      return candidate;
    }
  }
}

/**
 * The fields that differ from those the form was opened with.
 */
export function changedFields(
  initial: IFormValues,
  current: IFormValues
): { name?: string; value?: string } {
  const changes: { name?: string; value?: string } = {};
  if (current.name !== initial.name) {
    changes.name = current.name;
  }
  if (current.value !== initial.value) {
    changes.value = current.value;
  }
  return changes;
}

/**
 * The update an Edit form sends: the version it was opened with, and only
 * the changed fields; `null` when nothing changed.
 */
export function buildUpdate(
  version: number,
  initial: IFormValues,
  current: IFormValues
): ISecretUpdate | null {
  const changes = changedFields(initial, current);
  if (changes.name === undefined && changes.value === undefined) {
    return null;
  }
  return { version, ...changes };
}

/**
 * The fields after reloading a secret changed elsewhere: what the user
 * changed is kept, the rest takes the latest stored state.
 *
 * @param initial - the fields as the form was opened
 * @param current - the fields as typed
 * @param latest - the fields as now stored
 */
export function mergeReloaded(
  initial: IFormValues,
  current: IFormValues,
  latest: IFormValues
): IFormValues {
  return {
    name: current.name !== initial.name ? current.name : latest.name,
    value: current.value !== initial.value ? current.value : latest.value
  };
}

/**
 * Place a refusal of the server in the form.
 *
 * @param error - what the request threw
 * @param __ - the translation function
 */
export function serverProblem(error: unknown, __: Translate): IServerProblem {
  if (!(error instanceof SecretsAPIError)) {
    return {
      field: null,
      message: __('The request failed: %1', Private.shortMessage(error)),
      conflict: false
    };
  }
  const field =
    error.field === 'name' || error.field === 'value' ? error.field : null;
  const conflict =
    error.status === 409 && (error.field === 'version' || field === null);
  let message = error.message;
  if (error.status === 404) {
    message = __(
      'This secret no longer exists: it may have been deleted elsewhere.'
    );
  } else if (conflict) {
    message = __(
      'This secret was changed elsewhere since you opened it. Reload it to get the latest version: what you typed is kept.'
    );
  }
  return { field, message, conflict };
}

/**
 * A readable message for an error shown outside a form.
 */
export function errorMessage(error: unknown, __: Translate): string {
  if (error instanceof SecretsAPIError) {
    return error.message;
  }
  return __('The request failed: %1', Private.shortMessage(error));
}

namespace Private {
  /**
   * Counts UTF-8 bytes as the server does.
   */
  export const encoder = new TextEncoder();

  /**
   * The first line of an error's message: never a stack trace.
   */
  export function shortMessage(error: unknown): string {
    const text = error instanceof Error ? error.message : String(error);
    return text.split('\n')[0];
  }
}

/**
 * The state the form compares its fields with.
 */
export interface IFormBase {
  /**
   * The secret as the form last loaded it; `null` when creating or cloning.
   */
  meta: ISecretMeta | null;
  /**
   * The fields as stored, or as proposed for a new secret. Until the stored
   * value is fetched, its value is empty.
   */
  values: IFormValues;
}

/**
 * Whether the form holds the stored value of the secret it is about:
 * `unknown` until the user asks to see it, `loading` while it is fetched.
 * A new secret has none to fetch: its value is `known` from the start.
 */
export type ValueState = 'unknown' | 'loading' | 'known';

/**
 * The state of an open form.
 */
export interface IFormState {
  base: IFormBase;
  /**
   * The fields as typed.
   */
  values: IFormValues;
  valueState: ValueState;
  /**
   * Whether the user has typed in the Name field.
   */
  touched: boolean;
  /**
   * Whether the user has tried to send the form.
   */
  submitted: boolean;
  /**
   * Whether a request of the form is being answered.
   */
  busy: boolean;
  /**
   * The server's last refusal, shown until the field at fault changes.
   */
  problem: IServerProblem | null;
  /**
   * A message about the form as a whole, such as the result of a reload.
   */
  notice: string | null;
  /**
   * Whether the value shows unmasked.
   */
  shown: boolean;
}

/**
 * What happens to an open form.
 */
export type FormAction =
  | { type: 'type'; field: keyof IFormValues; value: string }
  | { type: 'reveal' }
  | { type: 'revealed'; value: string }
  | { type: 'hide' }
  | { type: 'submit' }
  | { type: 'send' }
  | { type: 'refused'; problem: IServerProblem }
  | { type: 'reloaded'; meta: ISecretMeta; value?: string; notice: string };

/**
 * The state a form opens with. Clone and Edit do not fetch the stored
 * value: an empty field keeps it, and the user asks to see it.
 *
 * @param request - what the form is opened for
 * @param own - the names of the project's own secrets
 */
export function initialFormState(
  request: FormRequest,
  own: Iterable<string>
): IFormState {
  let base: IFormBase;
  switch (request.mode) {
    case 'create':
      base = { meta: null, values: { name: '', value: '' } };
      break;
    case 'copy':
      base = {
        meta: null,
        values: { name: copyName(request.secret.name, own), value: '' }
      };
      break;
    case 'edit':
      base = {
        meta: request.secret,
        values: { name: request.secret.name, value: '' }
      };
      break;
  }
  return {
    base,
    values: base.values,
    valueState: request.mode === 'create' ? 'known' : 'unknown',
    touched: false,
    submitted: false,
    busy: false,
    problem: null,
    notice: null,
    shown: false
  };
}

/**
 * The next state of a form.
 */
export function formReducer(state: IFormState, action: FormAction): IFormState {
  switch (action.type) {
    case 'type':
      return {
        ...state,
        values: { ...state.values, [action.field]: action.value },
        touched: state.touched || action.field === 'name',
        problem: state.problem?.field === action.field ? null : state.problem
      };
    case 'reveal':
      return state.valueState === 'known'
        ? { ...state, shown: true }
        : { ...state, valueState: 'loading' };
    case 'revealed':
      // What the user typed meanwhile is kept.
      return {
        ...state,
        base: {
          ...state.base,
          values: { ...state.base.values, value: action.value }
        },
        values:
          state.values.value === ''
            ? { ...state.values, value: action.value }
            : state.values,
        valueState: 'known',
        shown: true
      };
    case 'hide':
      return { ...state, shown: false };
    case 'submit':
      return { ...state, submitted: true };
    case 'send':
      return { ...state, busy: true, problem: null, notice: null };
    case 'refused':
      return {
        ...state,
        busy: false,
        valueState:
          state.valueState === 'loading' ? 'unknown' : state.valueState,
        problem: action.problem
      };
    case 'reloaded': {
      const latest = {
        name: action.meta.name,
        value: action.value ?? state.base.values.value
      };
      return {
        ...state,
        base: { meta: action.meta, values: latest },
        values: mergeReloaded(state.base.values, state.values, latest),
        busy: false,
        problem: null,
        notice: action.notice
      };
    }
  }
}

/**
 * Whether an empty Content field means "keep the stored value": it does
 * until the stored value is fetched.
 */
export function keepsValue(state: IFormState): boolean {
  return state.valueState !== 'known' && state.values.value === '';
}
