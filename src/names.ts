/**
 * The rules for secret names, mirrored from the server so that forms can
 * explain a problem while the user types. The server always decides.
 */

/**
 * Shortest allowed name.
 */
export const NAME_MIN_LENGTH = 3;

/**
 * Longest allowed name.
 */
export const NAME_MAX_LENGTH = 63;

/**
 * The whole name rule in one pattern.
 */
export const NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{1,61}[A-Za-z0-9]$/;

/**
 * Names that would break a kernel's process environment.
 */
export const RESERVED_NAMES: ReadonlyArray<string> = [
  'PATH',
  'HOME',
  'SHELL',
  'USER',
  'PWD',
  'PYTHONPATH',
  'PYTHONHOME',
  'PYTHONSTARTUP'
];

/**
 * Prefixes that the kernel machinery owns.
 */
export const RESERVED_PREFIXES: ReadonlyArray<string> = [
  'LD_',
  'JPY_',
  'JUPYTER'
];

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
 * Check a name against the rules.
 *
 * @param name - the name as typed
 * @param taken - names already used in the project (case-sensitive)
 * @returns the first problem found, or `null`
 */
export function checkName(
  name: string,
  taken: Iterable<string> = []
): NameProblem | null {
  if (name.length === 0) {
    return { kind: 'empty' };
  }
  const first = name[0];
  if (!/[A-Za-z]/.test(first)) {
    return { kind: 'bad-first', char: first };
  }
  const bad = Array.from(name).find(c => !/[A-Za-z0-9_-]/.test(c));
  if (bad !== undefined) {
    return { kind: 'bad-char', char: bad };
  }
  if (name.length < NAME_MIN_LENGTH) {
    return { kind: 'too-short' };
  }
  if (name.length > NAME_MAX_LENGTH) {
    return { kind: 'too-long' };
  }
  const last = name[name.length - 1];
  if (!/[A-Za-z0-9]/.test(last)) {
    return { kind: 'bad-last', char: last };
  }
  if (RESERVED_NAMES.includes(name)) {
    return { kind: 'reserved' };
  }
  const prefix = RESERVED_PREFIXES.find(p => name.startsWith(p));
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
 * The translatable explanation of a name problem.
 *
 * @param problem - what `checkName` found
 * @param __ - the translation function of the extension's bundle
 */
export function describeNameProblem(
  problem: NameProblem,
  __: (msg: string, ...args: any[]) => string
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
        "This name is reserved: it would break the kernel's environment."
      );
    case 'reserved-prefix':
      return __(
        'Names starting with "%1" are reserved: they would break the kernel\'s environment.',
        problem.prefix
      );
    case 'taken':
      return __('A secret with this name already exists in this project.');
  }
}
