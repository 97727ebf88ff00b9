import { checkName, describeNameProblem, NameProblem } from '../names';

const identity = (msg: string, ...args: any[]): string =>
  args.reduce((s: string, a, i) => s.replace(`%${i + 1}`, String(a)), msg);

describe('checkName', () => {
  it.each([
    ['abc'],
    ['a1b'],
    ['my-api-key'],
    ['my_api_key'],
    ['A' + 'b'.repeat(61) + 'C'],
    ['path'],
    ['Path'],
    ['LDX_VALUE'],
    ['JUPYTEx']
  ])('accepts %s', name => {
    expect(checkName(name)).toBeNull();
  });

  it.each<[string, NameProblem['kind']]>([
    ['', 'empty'],
    ['a', 'too-short'],
    ['ab', 'too-short'],
    ['a' + 'b'.repeat(63), 'too-long'],
    ['1abc', 'bad-first'],
    ['-abc', 'bad-first'],
    ['_abc', 'bad-first'],
    ['abc-', 'bad-last'],
    ['abc_', 'bad-last'],
    ['ab c', 'bad-char'],
    ['ab.c', 'bad-char'],
    ['abé', 'bad-char'],
    ['PATH', 'reserved'],
    ['HOME', 'reserved'],
    ['SHELL', 'reserved'],
    ['USER', 'reserved'],
    ['PWD', 'reserved'],
    ['PYTHONPATH', 'reserved'],
    ['PYTHONHOME', 'reserved'],
    ['PYTHONSTARTUP', 'reserved'],
    ['LD_PRELOAD', 'reserved-prefix'],
    ['JPY_SESSION', 'reserved-prefix'],
    ['JUPYTER_TOKEN', 'reserved-prefix'],
    ['JUPYTERX', 'reserved-prefix']
  ])('refuses %j as %s', (name, kind) => {
    expect(checkName(name)?.kind).toBe(kind);
  });

  it('is exactly the documented pattern at the length boundaries', () => {
    expect(checkName('a'.repeat(63))).toBeNull();
    expect(checkName('a'.repeat(64))?.kind).toBe('too-long');
    expect(checkName('a'.repeat(3))).toBeNull();
  });

  it('refuses a name taken in the project, case-sensitively', () => {
    expect(checkName('token', ['token'])?.kind).toBe('taken');
    expect(checkName('Token', ['token'])).toBeNull();
  });

  it('explains every problem in words', () => {
    expect(describeNameProblem({ kind: 'too-short' }, identity)).toBe(
      'The name is too short: use at least 3 characters.'
    );
    expect(
      describeNameProblem({ kind: 'bad-first', char: '1' }, identity)
    ).toBe('The name must start with a Latin letter, not "1".');
    expect(describeNameProblem({ kind: 'taken' }, identity)).toBe(
      'A secret with this name already exists in this project.'
    );
  });
});
