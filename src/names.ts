/**
 * The rules for secret names and values, so that forms can explain a
 * problem while the user types. The server always decides.
 *
 * The rules themselves are not written here: `rules.json` is generated from
 * the server's `jupyterlab_secrets/rules.py`
 * (`python -m jupyterlab_secrets.rules > src/rules.json`), and a server test
 * fails when the two differ. `checkName` makes the same checks in the same
 * order as the server's `rules.name_error`, so both refuse a name for the
 * same reason.
 */

import rules from './rules.json';

/**
 * The translation function of the extension's bundle.
 */
export type Translate = (msg: string, ...args: any[]) => string;

/**
 * Shortest allowed name.
 */
export const NAME_MIN_LENGTH: number = rules.name.minLength;

/**
 * Longest allowed name.
 */
export const NAME_MAX_LENGTH: number = rules.name.maxLength;

/**
 * The largest value the server accepts, in UTF-8 bytes.
 */
export const MAX_VALUE_BYTES: number = rules.value.maxBytes;

/**
 * Why a name is refused; `null` when it is accepted.
 */
export type NameProblem =
  | { kind: 'empty' }
  | { kind: 'too-short' }
  | { kind: 'too-long' }
  | { kind: 'bad-first'; char: string }
  | { kind: 'bad-last'; char: string }
  | { kind: 'bad-char'; char: string }
  | { kind: 'reserved' }
  | { kind: 'reserved-prefix'; prefix: string }
  | { kind: 'taken' };

/**
 * Check a name against the rules, in the server's order: length, first
 * character, last character, allowed characters, reserved names, reserved
 * prefixes; then, here only, the names taken in the project.
 *
 * @param name - the name as typed
 * @param taken - names already used in the project (case-sensitive)
 * @returns the first problem found, or `null`
 */
export function checkName(
  name: string,
  taken: Iterable<string> = []
): NameProblem | null {
  // The server counts code points, as `Array.from` splits a string.
  const chars = Array.from(name);
  if (chars.length === 0) {
    return { kind: 'empty' };
  }
  if (chars.length < NAME_MIN_LENGTH) {
    return { kind: 'too-short' };
  }
  if (chars.length > NAME_MAX_LENGTH) {
    return { kind: 'too-long' };
  }
  const first = chars[0];
  if (!Private.LETTER.test(first)) {
    return { kind: 'bad-first', char: first };
  }
  const last = chars[chars.length - 1];
  if (!Private.LETTER_OR_DIGIT.test(last)) {
    return { kind: 'bad-last', char: last };
  }
  if (!Private.NAME.test(name)) {
    const bad = chars.find(c => !Private.NAME_CHAR.test(c)) ?? '';
    return { kind: 'bad-char', char: bad };
  }
  const upper = name.toUpperCase();
  if (Private.RESERVED.has(upper)) {
    return { kind: 'reserved' };
  }
  const prefix = rules.name.reservedPrefixes.find(p => upper.startsWith(p));
  if (prefix !== undefined) {
    return { kind: 'reserved-prefix', prefix };
  }
  for (const other of taken) {
    if (other === name) {
      return { kind: 'taken' };
    }
  }
  return null;
}

/**
 * Whether a name redirects network traffic or what it trusts. Such a name
 * is allowed for the project's own secret, but the server never injects a
 * secret of another project under it.
 */
export function isTrafficName(name: string): boolean {
  const upper = name.toUpperCase();
  return (
    Private.TRAFFIC.has(upper) ||
    rules.name.trafficPrefixes.some(p => upper.startsWith(p))
  );
}

/**
 * Why a secret shared by another project is never injected under a name:
 * `traffic` (see `isTrafficName`), or `shared_name`: the name has no hyphen,
 * so a shell or a common tool might read it, or it starts with a prefix
 * under which a tool reads every variable as a setting.
 */
export type SharedNameRefusal = 'traffic' | 'shared_name';

/**
 * Why the server never injects a secret of another project under a name, as
 * its `rules.shared_name_refusal` says; `null` when it may. A project's own
 * secrets are injected under any valid name.
 */
export function sharedNameRefusal(name: string): SharedNameRefusal | null {
  if (isTrafficName(name)) {
    return 'traffic';
  }
  const upper = name.toUpperCase();
  if (
    !name.includes(rules.name.sharedNameMark) ||
    rules.name.settingPrefixes.some(p => upper.startsWith(p))
  ) {
    return 'shared_name';
  }
  return null;
}

/**
 * The translatable explanation of a name problem.
 *
 * @param problem - what `checkName` found
 * @param __ - the translation function of the extension's bundle
 */
export function describeNameProblem(
  problem: NameProblem,
  __: Translate
): string {
  switch (problem.kind) {
    case 'empty':
      return __('Enter a name.');
    case 'too-short':
      return __(
        'The name is too short: use at least %1 characters.',
        NAME_MIN_LENGTH
      );
    case 'too-long':
      return __(
        'The name is too long: use at most %1 characters.',
        NAME_MAX_LENGTH
      );
    case 'bad-first':
      return __(
        'The name must start with a Latin letter, not "%1".',
        problem.char
      );
    case 'bad-last':
      return __(
        'The name must end with a Latin letter or a digit, not "%1".',
        problem.char
      );
    case 'bad-char':
      return __(
        'The name may hold only Latin letters, digits, hyphens and underscores, not "%1".',
        problem.char
      );
    case 'reserved':
      return __(
        'This name is reserved: setting it would change what programs in the kernel run or trust.'
      );
    case 'reserved-prefix':
      return __(
        'Names starting with "%1" are reserved: setting them would change what programs in the kernel run or trust.',
        problem.prefix
      );
    case 'taken':
      return __('A secret with this name already exists in this project.');
  }
}

namespace Private {
  /**
   * The whole name rule: the server matches it whole (`fullmatch`).
   */
  export const NAME = new RegExp(`^(?:${rules.name.pattern})$`);

  /**
   * What a name may start with.
   */
  export const LETTER = /^[A-Za-z]$/;

  /**
   * What a name may end with.
   */
  export const LETTER_OR_DIGIT = /^[A-Za-z0-9]$/;

  /**
   * Any character of a name.
   */
  export const NAME_CHAR = /^[A-Za-z0-9_-]$/;

  /**
   * The reserved names, upper case: they are matched in any case.
   */
  export const RESERVED: ReadonlySet<string> = new Set(rules.name.reserved);

  /**
   * The names that redirect traffic or trust, upper case.
   */
  export const TRAFFIC: ReadonlySet<string> = new Set(rules.name.traffic);
}
