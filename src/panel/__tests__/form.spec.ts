import { nullTranslator } from '@jupyterlab/translation';

import { SecretsAPIError } from '../../api';
import { meta } from '../../__tests__/fakes';
import { MAX_VALUE_BYTES } from '../../names';
import {
  buildUpdate,
  checkValue,
  copyName,
  errorMessage,
  formReducer,
  initialFormState,
  keepsValue,
  mergeReloaded,
  serverProblem,
  takenNames,
  validate
} from '../form';

const trans = nullTranslator.load('jupyterlab_secrets');
const __ = trans.__.bind(trans);

describe('validate', () => {
  it('accepts a valid name and a multi-line value', () => {
    const problems = validate(
      { name: 'my-api-key', value: '-----BEGIN KEY-----\nabc\n' },
      ['other-key'],
      __
    );

    expect(problems).toEqual({ name: null, value: null });
  });

  it.each([
    ['', /Enter a name/],
    ['1st-key', /start with a Latin letter, not "1"/],
    ['ab', /too short/],
    ['a'.repeat(64), /too long/],
    ['my key', /not " "/],
    ['ключ', /start with a Latin letter/],
    ['trailing-', /end with a Latin letter or a digit, not "-"/],
    ['PATH', /reserved/],
    ['LD_PRELOAD', /Names starting with "LD_" are reserved/],
    ['taken-key', /already exists/]
  ])('explains why the name %j is refused', (name, reason) => {
    const problems = validate({ name, value: 'v' }, ['taken-key'], __);

    expect(problems.name).toMatch(reason);
    expect(problems.value).toBeNull();
  });

  it('compares taken names case-sensitively, like the environment, and reserved ones in any case', () => {
    expect(validate({ name: 'path', value: 'v' }, [], __).name).toMatch(
      /reserved/
    );
    expect(
      validate({ name: 'Taken-Key', value: 'v' }, ['taken-key'], __).name
    ).toBeNull();
  });

  it('refuses an empty value, with a reason', () => {
    const problems = validate({ name: 'good-name', value: '' }, [], __);

    expect(problems.value).toMatch(/cannot be empty/);
  });

  it('refuses a NUL character and a value over 65,536 bytes', () => {
    expect(checkValue('a\0b')).toEqual({ kind: 'nul' });
    // 'é' takes two bytes in UTF-8: 32,769 of them are 65,538 bytes
    expect(checkValue('é'.repeat(32769))).toEqual({
      kind: 'too-large',
      bytes: 65538
    });
    expect(checkValue('é'.repeat(32768))).toBeNull();
    expect(checkValue('a'.repeat(MAX_VALUE_BYTES))).toBeNull();
    expect(
      validate({ name: 'good-name', value: 'a'.repeat(65537) }, [], __).value
    ).toMatch(/too large: 65,537 bytes, at most 65,536/);
  });
});

describe('checkValue sizes', () => {
  it('counts bytes as UTF-8 does, at the limit', () => {
    // '€' takes 3 bytes, '😀' 4 (two UTF-16 units)
    expect(checkValue('€'.repeat(21845) + 'a')).toBeNull();
    expect(checkValue('€'.repeat(21845) + 'ab')).toEqual({
      kind: 'too-large',
      bytes: 65537
    });
    expect(checkValue('😀'.repeat(16384))).toBeNull();
    expect(checkValue('😀'.repeat(16384) + 'a')).toEqual({
      kind: 'too-large',
      bytes: 65537
    });
  });
});

describe('takenNames', () => {
  it("lets an edited secret keep its own name, and nobody else's", () => {
    const taken = takenNames(['key-one', 'key-two'], 'key-one');

    expect(validate({ name: 'key-one', value: 'v' }, taken, __).name).toBe(
      null
    );
    expect(validate({ name: 'key-two', value: 'v' }, taken, __).name).toMatch(
      /already exists/
    );
  });
});

describe('copyName', () => {
  it('proposes <name>-copy, numbered when taken', () => {
    expect(copyName('api-key', ['api-key'])).toBe('api-key-copy');
    expect(copyName('api-key', ['api-key', 'api-key-copy'])).toBe(
      'api-key-copy-2'
    );
  });

  it('stays within the longest name allowed', () => {
    const proposed = copyName('k'.repeat(63), []);

    expect(proposed).toHaveLength(63);
    expect(proposed.endsWith('-copy')).toBe(true);
    expect(validate({ name: proposed, value: 'v' }, [], __).name).toBeNull();
  });
});

describe('buildUpdate', () => {
  const initial = { name: 'api-key', value: 'old' };

  it('sends the version and only what changed', () => {
    expect(buildUpdate(4, initial, { name: 'new-key', value: 'old' })).toEqual({
      version: 4,
      name: 'new-key'
    });
    expect(buildUpdate(4, initial, { name: 'api-key', value: 'new' })).toEqual({
      version: 4,
      value: 'new'
    });
    expect(buildUpdate(4, initial, { name: 'new-key', value: 'new' })).toEqual({
      version: 4,
      name: 'new-key',
      value: 'new'
    });
  });

  it('sends nothing when nothing changed', () => {
    expect(buildUpdate(4, initial, { ...initial })).toBeNull();
  });
});

describe('mergeReloaded', () => {
  it('keeps what the user changed and takes the rest from the latest', () => {
    const initial = { name: 'api-key', value: 'old' };
    const typed = { name: 'api-key', value: 'typed' };
    const latest = { name: 'renamed-elsewhere', value: 'changed elsewhere' };

    expect(mergeReloaded(initial, typed, latest)).toEqual({
      name: 'renamed-elsewhere',
      value: 'typed'
    });
  });
});

describe('serverProblem', () => {
  it('places a refused name or value next to its field', () => {
    expect(
      serverProblem(
        new SecretsAPIError(
          409,
          'A secret with this name already exists.',
          'name'
        ),
        __
      )
    ).toEqual({
      field: 'name',
      message: 'A secret with this name already exists.',
      conflict: false
    });
    expect(
      serverProblem(
        new SecretsAPIError(
          413,
          'Content must be at most 65,536 bytes.',
          'value'
        ),
        __
      )
    ).toEqual({
      field: 'value',
      message: 'Content must be at most 65,536 bytes.',
      conflict: false
    });
  });

  it('recognises a stale version as a conflict to reload', () => {
    const problem = serverProblem(
      new SecretsAPIError(409, 'This secret was changed.', 'version'),
      __
    );

    expect(problem.field).toBeNull();
    expect(problem.conflict).toBe(true);
    expect(problem.message).toMatch(/changed elsewhere/);
  });

  it("keeps the server's message for refusals of the whole form", () => {
    const message =
      'This secret belongs to project "other": you cannot edit it here.';
    for (const status of [400, 403, 503]) {
      expect(serverProblem(new SecretsAPIError(status, message), __)).toEqual({
        field: null,
        message,
        conflict: false
      });
    }
    expect(
      serverProblem(new SecretsAPIError(404, 'No such secret.'), __).message
    ).toMatch(/no longer exists/);
  });

  it('never shows a stack trace', () => {
    const error = new Error(
      'Unexpected token\n    at JSON.parse (<anonymous>)'
    );

    expect(serverProblem(error, __).message).toBe(
      'The request failed: Unexpected token'
    );
    expect(errorMessage(error, __)).not.toContain('at JSON.parse');
    expect(errorMessage(new SecretsAPIError(0, 'Unreachable.'), __)).toBe(
      'Unreachable.'
    );
  });
});

describe('formReducer', () => {
  const secret = meta('api-key', { version: 3 });

  it('opens Edit and Clone without the stored value, which an empty field keeps', () => {
    const edit = initialFormState({ mode: 'edit', secret }, []);
    const clone = initialFormState({ mode: 'copy', secret }, ['api-key']);
    const create = initialFormState({ mode: 'create' }, []);

    expect(edit.valueState).toBe('unknown');
    expect(edit.values).toEqual({ name: 'api-key', value: '' });
    expect(keepsValue(edit)).toBe(true);
    expect(clone.values.name).toBe('api-key-copy');
    expect(keepsValue(clone)).toBe(true);
    expect(create.valueState).toBe('known');
    expect(keepsValue(create)).toBe(false);
  });

  it('keeps what the user typed when the stored value arrives', () => {
    let state = initialFormState({ mode: 'edit', secret }, []);
    state = formReducer(state, { type: 'reveal' });
    expect(state.valueState).toBe('loading');
    state = formReducer(state, {
      type: 'type',
      field: 'value',
      value: 'typed'
    });
    state = formReducer(state, { type: 'revealed', value: 'stored' });

    expect(state.valueState).toBe('known');
    expect(state.shown).toBe(true);
    expect(state.base.values.value).toBe('stored');
    expect(state.values.value).toBe('typed');
    expect(buildUpdate(3, state.base.values, state.values)).toEqual({
      version: 3,
      value: 'typed'
    });
  });

  it('sends a rename alone as a rename, and forgets a refused reveal', () => {
    let state = initialFormState({ mode: 'edit', secret }, []);
    state = formReducer(state, { type: 'type', field: 'name', value: 'b-key' });
    expect(state.touched).toBe(true);
    expect(buildUpdate(3, state.base.values, state.values)).toEqual({
      version: 3,
      name: 'b-key'
    });

    state = formReducer(state, { type: 'reveal' });
    state = formReducer(state, {
      type: 'refused',
      problem: { field: null, message: 'no', conflict: false }
    });
    expect(state.valueState).toBe('unknown');
    expect(state.problem?.message).toBe('no');
  });
});
