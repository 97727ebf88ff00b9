/**
 * Per-language code that sets the project's secrets in a kernel's process
 * environment.
 *
 * Every generator is a pure function. The code it returns carries each value
 * base64-encoded, so a raw value never appears in it. When run, the code
 * catches its own errors, prints nothing, leaves no names in the user's
 * namespace, can run any number of times, and removes the variables that an
 * earlier run set and that are no longer secrets. It records the names it
 * manages in `JUPYTERLAB_SECRETS_NAMES` (names only) and its outcome in
 * `JUPYTERLAB_SECRETS_STATUS`; names starting with `JUPYTER` are never secret
 * names, so neither can clash with a secret.
 */

/**
 * The environment variable listing the names the injector manages, separated
 * by commas.
 */
export const NAMES_VARIABLE = 'JUPYTERLAB_SECRETS_NAMES';

/**
 * The environment variable where the code records its outcome:
 * `<token>:ok` or `<token>:error:<kind>`. It never holds a value.
 */
export const STATUS_VARIABLE = 'JUPYTERLAB_SECRETS_STATUS';

/**
 * The key of the user expression that reads the outcome back, for kernels
 * that evaluate user expressions.
 */
export const STATUS_EXPRESSION = 'jupyterlab_secrets';

/**
 * The first line of a Python cell that runs the rest of the cell in bash.
 */
export const BASH_CELL_MARKER = '#!:bash';

/**
 * Code that sets a set of secrets in one kind of kernel.
 */
export interface IInjectionCode {
  /**
   * The code to send in a silent execute request.
   */
  code: string;
  /**
   * The user expressions to send with it; they read the outcome back and
   * never a value. Empty for kernels that do not evaluate them.
   */
  userExpressions: Record<string, string>;
  /**
   * The names the code sets, in order.
   */
  names: string[];
  /**
   * The names this kind of kernel cannot hold, so the code leaves them out.
   */
  skipped: string[];
}

/**
 * Builds the injection code of one language.
 *
 * @param environment - the secrets, name to value
 * @param token - a word of `[A-Za-z0-9]` that identifies this injection in
 *   the recorded outcome
 */
export type InjectionGenerator = (
  environment: Readonly<Record<string, string>>,
  token: string
) => IInjectionCode;

/**
 * Set the secrets in an IPython kernel (`os.environ`), and register the
 * `#!:bash` cell transformer.
 *
 * The script travels base64-encoded inside a one-statement wrapper that runs
 * it in a throwaway namespace, so nothing lands in `In`, `Out` or the user's
 * globals. The secrets travel beside it as one base64 literal of
 * `name NUL value NUL ...`, which keeps the code small for many secrets.
 */
export function pythonInjection(
  environment: Readonly<Record<string, string>>,
  token: string
): IInjectionCode {
  Private.checkToken(token);
  const { names, skipped } = Private.partition(
    environment,
    Private.PORTABLE_NAME
  );
  const code = [
    'try:',
    `    exec(__import__('base64').b64decode('${Private.pythonScript()}').decode('ascii'), {'__name__': 'jupyterlab_secrets', 'TOKEN': '${token}', 'SECRETS': '${Private.nulSeparated(environment, names, true)}'})`,
    'except BaseException:',
    `    __import__('os').environ['${STATUS_VARIABLE}'] = '${token}:error:wrapper'`,
    ''
  ].join('\n');
  return {
    code,
    userExpressions: {
      [STATUS_EXPRESSION]: `__import__('os').environ.get('${STATUS_VARIABLE}', '')`
    },
    names,
    skipped
  };
}

/**
 * Set the secrets in an IRkernel kernel (`Sys.setenv` / `Sys.unsetenv`).
 *
 * IRkernel always ships `jsonlite`, so `jsonlite::base64_dec` decodes the
 * values; everything runs inside `local()`, so no name lands in the global
 * environment.
 */
export function rInjection(
  environment: Readonly<Record<string, string>>,
  token: string
): IInjectionCode {
  Private.checkToken(token);
  const { names, skipped } = Private.partition(
    environment,
    Private.PORTABLE_NAME
  );
  const entries = names
    .map(
      name => `      \`${name}\` = decode('${utf8ToBase64(environment[name])}')`
    )
    .join(',\n');
  const code = [
    'invisible(local({',
    `  token <- '${token}'`,
    '  tryCatch(suppressWarnings({',
    '    decode <- function(data) {',
    '      value <- rawToChar(jsonlite::base64_dec(data))',
    "      Encoding(value) <- 'UTF-8'",
    '      value',
    '    }',
    '    secrets <- list(',
    ...(entries ? [entries] : []),
    '    )',
    `    old <- strsplit(Sys.getenv('${NAMES_VARIABLE}'), ',', fixed = TRUE)[[1]]`,
    '    gone <- setdiff(old[nzchar(old)], names(secrets))',
    '    if (length(gone) > 0) Sys.unsetenv(gone)',
    '    if (length(secrets) > 0) do.call(Sys.setenv, secrets)',
    `    Sys.setenv(${NAMES_VARIABLE} = paste(names(secrets), collapse = ','))`,
    `    Sys.setenv(${STATUS_VARIABLE} = paste0(token, ':ok'))`,
    '  }), error = function(e) {',
    `    Sys.setenv(${STATUS_VARIABLE} = paste0(token, ':error:', class(e)[1]))`,
    '  })',
    '}))',
    ''
  ].join('\n');
  return {
    code,
    userExpressions: {
      [STATUS_EXPRESSION]: `Sys.getenv('${STATUS_VARIABLE}')`
    },
    names,
    skipped
  };
}

/**
 * Set the secrets in an IJulia kernel (`ENV`).
 *
 * `Base64` is loaded without binding a name in `Main`, and everything runs
 * inside `let`, so no name lands in the user's module.
 */
export function juliaInjection(
  environment: Readonly<Record<string, string>>,
  token: string
): IInjectionCode {
  Private.checkToken(token);
  const { names, skipped } = Private.partition(
    environment,
    Private.PORTABLE_NAME
  );
  const entries = names
    .map(
      name =>
        `            "${name}" => decode("${utf8ToBase64(environment[name])}"),\n`
    )
    .join('');
  const code = [
    'let token = "' + token + '"',
    '    try',
    '        base64 = Base.require(Base.PkgId(Base.UUID("2a0f44e3-6c83-55bd-87e4-b1978d98bd5f"), "Base64"))',
    '        decode(data) = String(Base.invokelatest(base64.base64decode, data))',
    '        secrets = Pair{String,String}[',
    entries + '        ]',
    '        wanted = Set{String}(first(p) for p in secrets)',
    `        for name in split(get(ENV, "${NAMES_VARIABLE}", ""), ',', keepempty=false)`,
    '            String(name) in wanted || delete!(ENV, String(name))',
    '        end',
    '        for (name, value) in secrets',
    '            ENV[name] = value',
    '        end',
    `        ENV["${NAMES_VARIABLE}"] = join((first(p) for p in secrets), ',')`,
    `        ENV["${STATUS_VARIABLE}"] = token * ":ok"`,
    '    catch err',
    `        ENV["${STATUS_VARIABLE}"] = token * ":error:" * string(nameof(typeof(err)))`,
    '    end',
    '    nothing',
    'end',
    ''
  ].join('\n');
  return {
    code,
    userExpressions: {
      [STATUS_EXPRESSION]: `get(ENV, "${STATUS_VARIABLE}", "")`
    },
    names,
    skipped
  };
}

/**
 * Set the secrets in a bash_kernel kernel (`export`).
 *
 * bash cannot export a name with a hyphen, so those are skipped. bash_kernel
 * types the code into an interactive bash line by line, so the code is two
 * lines: the first turns history off (and holds no value), the second does
 * the work, removes the first from history, and turns history back on. The
 * code ends with a non-zero status when a value could not be set, so the
 * execute reply reports the failure.
 */
export function bashInjection(
  environment: Readonly<Record<string, string>>,
  token: string
): IInjectionCode {
  Private.checkToken(token);
  const { names, skipped } = Private.partition(environment, Private.SHELL_NAME);
  // One decoder process for all values, each followed by a NUL, which no
  // value holds, and read back whole, trailing newlines included.
  const list = names.join(',');
  const first = Private.BASH_FIRST_LINE;
  const second =
    '__jupyterlab_secrets_apply() { ' +
    "local IFS=$' \\t\\n' __jls_entry __jls_name __jls_value __jls_i " +
    `__jls_list='${list}'; ` +
    'local -a __jls_values __jls_names; ' +
    'if [[ $__jupyterlab_secrets_history == on ]]; then ' +
    '__jls_entry=$(HISTTIMEFORMAT= history 1); ' +
    `if [[ $__jls_entry == *'${Private.BASH_FIRST_LINE_TAIL}' ]]; then ` +
    '__jls_entry=${__jls_entry#"${__jls_entry%%[0-9]*}"}; ' +
    'history -d "${__jls_entry%%[^0-9]*}"; ' +
    'fi; fi; ' +
    "while IFS= read -r -d '' __jls_value; do " +
    '__jls_values[${#__jls_values[@]}]=$__jls_value; ' +
    `done < <(printf '%s' '${Private.nulSeparated(environment, names, false)}' | base64 -d); ` +
    '__jls_names=(${__jls_list//,/ }); ' +
    '[[ ${#__jls_values[@]} == ${#__jls_names[@]} ]] || return 1; ' +
    `[[ \$${NAMES_VARIABLE} == "$__jls_list" ]] || ` +
    `for __jls_name in \${${NAMES_VARIABLE}//,/ }; do ` +
    'case ",$__jls_list," in *",$__jls_name,"*) ;; ' +
    '*) [[ $__jls_name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] && unset -v "$__jls_name";; ' +
    'esac; done; ' +
    'for ((__jls_i = 0; __jls_i < ${#__jls_names[@]}; __jls_i++)); do ' +
    'export "${__jls_names[__jls_i]}=${__jls_values[__jls_i]}"; done; ' +
    `export ${NAMES_VARIABLE}="$__jls_list"; ` +
    '}; ' +
    '__jupyterlab_secrets_apply >/dev/null 2>&1; ' +
    '__jupyterlab_secrets_status=$?; ' +
    'unset -f __jupyterlab_secrets_apply; ' +
    `[[ $__jupyterlab_secrets_status == 0 ]] && export ${STATUS_VARIABLE}='${token}:ok' || export ${STATUS_VARIABLE}='${token}:error:bash'; ` +
    '[[ $__jupyterlab_secrets_history == on ]] && set -o history; ' +
    'eval "unset -v __jupyterlab_secrets_history __jupyterlab_secrets_status; [[ $__jupyterlab_secrets_status == 0 ]]"';
  return {
    code: `${first}\n${second}\n`,
    userExpressions: {},
    names,
    skipped
  };
}

/**
 * The generator for a kernel language, or `null` when secrets cannot be set
 * in that language.
 *
 * @param language - the kernel's language (`language_info.name` or the
 *   kernelspec's `language`), in any case
 */
export function generatorFor(
  language: string | null | undefined
): InjectionGenerator | null {
  switch ((language ?? '').trim().toLowerCase()) {
    case 'python':
    case 'python3':
      return pythonInjection;
    case 'r':
      return rInjection;
    case 'julia':
      return juliaInjection;
    case 'bash':
      return bashInjection;
    default:
      return null;
  }
}

/**
 * Encode a string as UTF-8, then as base64.
 *
 * A lone surrogate, which no UTF-8 text holds, becomes U+FFFD.
 */
export function utf8ToBase64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  // In chunks: one call with a 64 KiB argument list would overflow the stack.
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

namespace Private {
  /**
   * Names every supported language can hold as an environment variable and
   * that are safe inside a quoted literal. Secret names always match.
   */
  export const PORTABLE_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

  /**
   * Names a POSIX shell can export.
   */
  export const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

  /**
   * The end of bash's first line: the part recognised when removing the
   * line from history.
   */
  export const BASH_FIRST_LINE_TAIL =
    '__jupyterlab_secrets_history=off; set +o history';

  /**
   * The first bash line: remember whether history is on, then turn it off.
   */
  export const BASH_FIRST_LINE = `[[ -o history ]] && __jupyterlab_secrets_history=on || ${BASH_FIRST_LINE_TAIL}`;

  /**
   * The Python script, run by the wrapper in a namespace of its own.
   */
  export const PYTHON_SCRIPT = `import base64
import os

# TOKEN and SECRETS come with the namespace this script runs in.
NAMES = '${NAMES_VARIABLE}'
STATUS = '${STATUS_VARIABLE}'
MARKER = '${BASH_CELL_MARKER}'


# Runs a cell whose first line is '#!:bash [args]' as '%%bash [args]'.
def bash_cell(lines):
    if lines and lines[0].startswith(MARKER):
        rest = lines[0][len(MARKER):]
        if not rest or rest[0].isspace():
            return ['%%bash' + rest] + lines[1:]
    return lines


bash_cell.jupyterlab_secrets = True


def register_bash_cell():
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    transforms = shell.input_transformers_cleanup
    transforms[:] = [t for t in transforms if not getattr(t, 'jupyterlab_secrets', False)]
    transforms.insert(0, bash_cell)


try:
    fields = base64.b64decode(SECRETS).split(b'\\0')[:-1]
    values = {
        fields[i].decode('ascii'): fields[i + 1].decode('utf-8')
        for i in range(0, len(fields), 2)
    }
    for name in os.environ.get(NAMES, '').split(','):
        if name and name not in values:
            os.environ.pop(name, None)
    os.environ.update(values)
    os.environ[NAMES] = ','.join(values)
    register_bash_cell()
    os.environ[STATUS] = TOKEN + ':ok'
except BaseException as error:
    os.environ[STATUS] = TOKEN + ':error:' + type(error).__name__
finally:
    # The transformer keeps this namespace alive: keep no value in it.
    for name in ('SECRETS', 'fields', 'values'):
        globals().pop(name, None)
`;

  let pythonScriptBase64: string | null = null;

  /**
   * The Python script, base64-encoded once: it never changes.
   */
  export function pythonScript(): string {
    if (pythonScriptBase64 === null) {
      pythonScriptBase64 = utf8ToBase64(PYTHON_SCRIPT);
    }
    return pythonScriptBase64;
  }

  /**
   * The values (and, when asked, the names before them) each followed by a
   * NUL, which neither holds, encoded as UTF-8 then base64.
   */
  export function nulSeparated(
    environment: Readonly<Record<string, string>>,
    names: string[],
    withNames: boolean
  ): string {
    return utf8ToBase64(
      names
        .map(name =>
          withNames
            ? `${name}\0${environment[name]}\0`
            : `${environment[name]}\0`
        )
        .join('')
    );
  }

  /**
   * Split the names into those a language can hold and the others, in a
   * stable order. A value holding NUL cannot live in an environment.
   */
  export function partition(
    environment: Readonly<Record<string, string>>,
    pattern: RegExp
  ): { names: string[]; skipped: string[] } {
    const names: string[] = [];
    const skipped: string[] = [];
    for (const name of Object.keys(environment).sort()) {
      const value = environment[name];
      if (
        pattern.test(name) &&
        typeof value === 'string' &&
        !value.includes('\0')
      ) {
        names.push(name);
      } else {
        skipped.push(name);
      }
    }
    return { names, skipped };
  }

  export function checkToken(token: string): void {
    if (!/^[A-Za-z0-9]+$/.test(token)) {
      throw new Error('An injection token holds only letters and digits.');
    }
  }
}
