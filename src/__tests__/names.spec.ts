import {
  checkName,
  describeNameProblem,
  isTrafficName,
  sharedNameRefusal,
  MAX_VALUE_BYTES,
  NAME_MAX_LENGTH,
  NameProblem
} from '../names';
import rules from '../rules.json';
import table from './name_verdicts.json';

const identity = (msg: string, ...args: any[]): string =>
  args.reduce((s: string, a, i) => s.replace(`%${i + 1}`, String(a)), msg);

/**
 * The check of the server's `rules.name_error` that each problem stands for.
 */
const VERDICT: Record<NameProblem['kind'], string> = {
  empty: 'length',
  'too-short': 'length',
  'too-long': 'length',
  'bad-first': 'first',
  'bad-last': 'last',
  'bad-char': 'chars',
  reserved: 'reserved',
  'reserved-prefix': 'reserved-prefix',
  taken: 'taken'
};

describe('checkName', () => {
  // The server's verdicts on this table are pinned by
  // jupyterlab_secrets/tests/test_rules_json.py.
  it.each(table.verdicts as Array<[string, string | null]>)(
    'gives %j the server verdict %s',
    (name, verdict) => {
      const problem = checkName(name);
      expect(problem === null ? null : VERDICT[problem.kind]).toBe(verdict);
    }
  );

  it('holds the names the issue names', () => {
    const names = new Map(table.verdicts as Array<[string, string | null]>);
    for (const name of [
      'Path',
      'home',
      'PYTHONWARNINGS',
      'dyld_insert_libraries',
      'HTTPS_PROXY',
      'my-api-key'
    ]) {
      expect(names.has(name)).toBe(true);
    }
    expect(checkName('HTTPS_PROXY')).toBeNull();
    expect(checkName('my-api-key')).toBeNull();
  });

  it('takes its limits from the rules generated from the server', () => {
    expect(NAME_MAX_LENGTH).toBe(rules.name.maxLength);
    expect(MAX_VALUE_BYTES).toBe(rules.value.maxBytes);
    expect(checkName('a'.repeat(rules.name.maxLength))).toBeNull();
    expect(checkName('a'.repeat(rules.name.maxLength + 1))?.kind).toBe(
      'too-long'
    );
    // Every reserved name is refused; those that are valid names (not
    // `_JAVA_OPTIONS`) for being reserved, in any case.
    const pattern = new RegExp(`^(?:${rules.name.pattern})$`);
    for (const name of rules.name.reserved) {
      expect(checkName(name)).not.toBeNull();
      if (pattern.test(name)) {
        expect(checkName(name)?.kind).toBe('reserved');
        expect(checkName(name.toLowerCase())?.kind).toBe('reserved');
      }
    }
  });

  it('names the reserved prefix as the rules write it', () => {
    expect(checkName('dyld_insert_libraries')).toEqual({
      kind: 'reserved-prefix',
      prefix: 'DYLD_'
    });
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
    expect(describeNameProblem(checkName('home')!, identity)).toBe(
      'This name is reserved: setting it would change what programs in the kernel run or trust.'
    );
    expect(describeNameProblem(checkName('PYTHONWARNINGS')!, identity)).toBe(
      'Names starting with "PYTHON" are reserved: setting them would change what programs in the kernel run or trust.'
    );
    expect(describeNameProblem({ kind: 'taken' }, identity)).toBe(
      'A secret with this name already exists in this project.'
    );
  });
});

describe('isTrafficName', () => {
  it.each([
    ['HTTPS_PROXY', true],
    ['https_proxy', true],
    ['PIP_INDEX_URL', true],
    ['Requests_CA_Bundle', true],
    ['my-api-key', false],
    ['PROXY', false]
  ])('%s: %s', (name, traffic) => {
    expect(isTrafficName(name)).toBe(traffic);
  });
});

describe('sharedNameRefusal', () => {
  // The server's verdicts on this table are pinned by
  // jupyterlab_secrets/tests/test_rules_json.py.
  it.each(table.sharedVerdicts as Array<[string, string | null]>)(
    'gives a shared secret named %j the server verdict %s',
    (name, verdict) => {
      expect(checkName(name)).toBeNull();
      expect(sharedNameRefusal(name)).toBe(verdict);
    }
  );
});
