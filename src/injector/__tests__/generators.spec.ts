import {
  bashInjection,
  generatorFor,
  IInjectionCode,
  InjectionGenerator,
  juliaInjection,
  NAMES_VARIABLE,
  pythonInjection,
  rInjection,
  STATUS_EXPRESSION,
  STATUS_VARIABLE,
  utf8ToBase64
} from '../generators';
import { trickyValues } from './values';

const TOKEN = 'tok3n42';

/**
 * Read the names and value bytes back out of generated code, the way the
 * kernel will: the payload of each language's decode call.
 */
const decoders: Record<string, (code: string) => Map<string, Buffer>> = {
  python: code => {
    const data = /'SECRETS': '([A-Za-z0-9+/=]*)'/.exec(code);
    expect(data).not.toBeNull();
    const fields = splitNul(Buffer.from(data![1], 'base64'));
    const values = new Map<string, Buffer>();
    for (let i = 0; i < fields.length; i += 2) {
      values.set(fields[i].toString('ascii'), fields[i + 1]);
    }
    return values;
  },
  r: code =>
    collect(code, /^ {6}`([^`]+)` = decode\('([A-Za-z0-9+/=]*)'\),?$/gm),
  julia: code =>
    collect(code, /^ {12}"([^"]+)" => decode\("([A-Za-z0-9+/=]*)"\),$/gm),
  bash: code => {
    const blob =
      /done < <\(printf '%s' '([A-Za-z0-9+/=]*)' \| base64 -d\)/.exec(code);
    const list = /__jls_list='([A-Za-z0-9_,]*)'/.exec(code);
    expect(blob).not.toBeNull();
    expect(list).not.toBeNull();
    const data = splitNul(Buffer.from(blob![1], 'base64'));
    const names = list![1] ? list![1].split(',') : [];
    expect(names.length).toBe(data.length);
    return new Map(names.map((name, i) => [name, data[i]]));
  }
};

/**
 * The fields of `field NUL field NUL ...`.
 */
function splitNul(bytes: Buffer): Buffer[] {
  const fields: Buffer[] = [];
  for (let at = 0; at < bytes.length;) {
    const end = bytes.indexOf(0, at);
    expect(end).toBeGreaterThanOrEqual(0);
    fields.push(bytes.subarray(at, end));
    at = end + 1;
  }
  return fields;
}

/**
 * The code as the kernel runs it: for Python, the wrapped script too.
 */
function readable(language: string, code: string): string {
  if (language !== 'python') {
    return code;
  }
  const outer = /b64decode\('([A-Za-z0-9+/=]+)'\)/.exec(code)!;
  return code + Buffer.from(outer[1], 'base64').toString('ascii');
}

function collect(text: string, pattern: RegExp): Map<string, Buffer> {
  const values = new Map<string, Buffer>();
  for (const m of text.matchAll(pattern)) {
    values.set(m[1], Buffer.from(m[2], 'base64'));
  }
  return values;
}

/**
 * The pieces of a value that must never appear in code: the value itself
 * and each of its longer lines.
 */
function fragments(value: string): string[] {
  return [value, ...value.split(/\r?\n/).filter(line => line.length >= 12)];
}

const generators: Array<[string, InjectionGenerator]> = [
  ['python', pythonInjection],
  ['r', rInjection],
  ['julia', juliaInjection],
  ['bash', bashInjection]
];

describe.each(generators)('%s injection', (language, generate) => {
  const values: Record<string, string> = {
    ...trickyValues(),
    'my-api-key': 'hyphenated "name"'
  };
  const injection: IInjectionCode = generate(values, TOKEN);
  const settable =
    language === 'bash'
      ? Object.keys(values).filter(name => !name.includes('-'))
      : Object.keys(values);

  it('carries every value it sets byte for byte', () => {
    const decoded = decoders[language](injection.code);

    expect(Array.from(decoded.keys()).sort()).toEqual(settable.sort());
    for (const name of settable) {
      expect(decoded.get(name)!.toString('hex')).toBe(
        Buffer.from(values[name], 'utf8').toString('hex')
      );
    }
    expect(injection.names.slice().sort()).toEqual(settable.sort());
  });

  it('never holds a raw value, even once unwrapped', () => {
    const code = readable(language, injection.code);
    for (const value of Object.values(values)) {
      for (const fragment of fragments(value)) {
        expect(code.includes(fragment)).toBe(false);
      }
    }
  });

  it('holds a 64 KiB value', () => {
    const big = values.TRICKY_BIG;
    expect(Buffer.byteLength(big, 'utf8')).toBe(65536);
    expect(decoders[language](injection.code).get('TRICKY_BIG')!.length).toBe(
      65536
    );
  });

  it('records the managed names and the outcome, never a value', () => {
    const code = readable(language, injection.code);
    expect(code).toContain(NAMES_VARIABLE);
    expect(code).toContain(STATUS_VARIABLE);
    expect(code).toContain(TOKEN);
    for (const expression of Object.values(injection.userExpressions)) {
      expect(expression).toContain(STATUS_VARIABLE);
    }
  });

  it('skips what the language cannot hold, and says so', () => {
    const odd = generate(
      { 'has space': 'v', GOOD_NAME: 'v', NUL_VALUE: 'a\0b', 'x;y': 'v' },
      TOKEN
    );

    expect(odd.names).toEqual(['GOOD_NAME']);
    expect(odd.skipped.sort()).toEqual(['NUL_VALUE', 'has space', 'x;y']);
    expect(odd.code).not.toContain('has space');
    expect(odd.code).not.toContain('x;y');
  });

  it('with no secrets, sets none and still removes the old ones', () => {
    const empty = generate({}, TOKEN);

    expect(empty.names).toEqual([]);
    expect(decoders[language](empty.code).size).toBe(0);
    expect(readable(language, empty.code)).toContain(NAMES_VARIABLE);
  });

  it('is the same code for the same input', () => {
    expect(generate(values, TOKEN).code).toBe(injection.code);
  });

  it('refuses a token that could break out of a literal', () => {
    expect(() => generate({}, "x'; rm -rf /")).toThrow();
  });
});

describe('pythonInjection', () => {
  const injection = pythonInjection({ SOME_KEY: 'value' }, TOKEN);
  const script = Buffer.from(
    /b64decode\('([A-Za-z0-9+/=]+)'\)/.exec(injection.code)![1],
    'base64'
  ).toString('ascii');

  it('is one try statement that runs the script in a namespace of its own', () => {
    const lines = injection.code.trimEnd().split('\n');

    expect(lines[0]).toBe('try:');
    expect(lines[1]).toMatch(
      /^ {4}exec\(__import__\('base64'\)\.b64decode\('[A-Za-z0-9+/=]+'\)\.decode\('ascii'\), \{'__name__': 'jupyterlab_secrets', 'TOKEN': 'tok3n42', 'SECRETS': '[A-Za-z0-9+/=]*'\}\)$/
    );
    expect(lines[2]).toBe('except BaseException:');
    expect(lines).toHaveLength(4);
    // No `as name` clause: it would delete a user variable of that name.
    expect(injection.code).not.toMatch(/except [^:]* as /);
  });

  it('sends the same script whatever the secrets', () => {
    const other = pythonInjection({ OTHER_KEY: 'other' }, 'another1');
    const scriptOf = (code: string) =>
      /b64decode\('([A-Za-z0-9+/=]+)'\)/.exec(code)![1];

    expect(scriptOf(other.code)).toBe(scriptOf(injection.code));
  });

  it('reads the outcome back through a user expression', () => {
    expect(injection.userExpressions).toEqual({
      [STATUS_EXPRESSION]: `__import__('os').environ.get('${STATUS_VARIABLE}', '')`
    });
  });

  it('registers one #!:bash transformer, replacing an earlier one', () => {
    expect(script).toContain('input_transformers_cleanup');
    expect(script).toContain(
      "transforms[:] = [t for t in transforms if not getattr(t, 'jupyterlab_secrets', False)]"
    );
    expect(script).toContain("return ['%%bash' + rest] + lines[1:]");
  });
});

describe('bashInjection', () => {
  const injection = bashInjection({ SOME_KEY: 'value', 'my-key': 'v' }, TOKEN);

  it('is two lines, and the first, the only one in history, holds no value', () => {
    const lines = injection.code.split('\n');

    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe('');
    expect(lines[0]).toBe(
      '[[ -o history ]] && __jupyterlab_secrets_history=on || __jupyterlab_secrets_history=off; set +o history'
    );
    expect(lines[0]).not.toContain(utf8ToBase64('value'));
  });

  it('uses no history expansion and no tab, which an interactive bash would act on', () => {
    expect(injection.code).not.toContain('!');
    expect(injection.code).not.toContain('\t');
    expect(injection.code.trimEnd().endsWith('\\')).toBe(false);
  });

  it('cannot export a hyphenated name', () => {
    expect(injection.names).toEqual(['SOME_KEY']);
    expect(injection.skipped).toEqual(['my-key']);
  });
});

describe('juliaInjection', () => {
  it('never interpolates', () => {
    const injection = juliaInjection(trickyValues(), TOKEN);
    expect(injection.code).not.toContain('$');
  });
});

describe('generatorFor', () => {
  it.each([
    ['python', pythonInjection],
    ['Python', pythonInjection],
    ['python3', pythonInjection],
    ['R', rInjection],
    ['julia', juliaInjection],
    ['bash', bashInjection]
  ])('maps %s', (language, generator) => {
    expect(generatorFor(language)).toBe(generator);
  });

  it.each([['javascript'], ['scala'], [''], [null], [undefined]])(
    'has nothing for %s',
    language => {
      expect(generatorFor(language)).toBeNull();
    }
  );
});

describe('utf8ToBase64', () => {
  it.each([
    ['empty', ''],
    ['one byte', 'a'],
    ['two bytes', 'ab'],
    ['three bytes', 'abc'],
    ['accent', 'é'],
    ['emoji', '🔑'],
    ['combining mark', 'e\u0301'],
    ['RTL', 'שלום'],
    ['64 KiB', trickyValues().TRICKY_BIG]
  ])('encodes %s like Node does', (_, text) => {
    expect(utf8ToBase64(text)).toBe(
      Buffer.from(text, 'utf8').toString('base64')
    );
  });

  it('turns a lone surrogate into U+FFFD, like TextEncoder', () => {
    expect(
      Buffer.from(utf8ToBase64('a\ud800b'), 'base64').toString('hex')
    ).toBe('61efbfbd62');
  });
});
