/**
 * The server's injection against a real IRkernel (Debian's r-cran-irkernel). The
 * suite is skipped, saying why, where no `ir` kernelspec is installed (with `CI=true` it
 * fails instead).
 */
import { execSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { execute, hex, IServerFixture, startFixture, waitFor } from './server';
import { trickyValues } from './values';

const { jupyterCommand } = require('./commands');

/**
 * Whether the test server's Jupyter knows an IRkernel kernelspec.
 */
function hasIRkernel(): boolean {
  try {
    const specs = JSON.parse(
      execSync(`${jupyterCommand('jupyter')} kernelspec list --json`, {
        encoding: 'utf8'
      })
    );
    return 'ir' in specs.kernelspecs;
  } catch {
    return false;
  }
}

const available = hasIRkernel();
if (!available) {
  const missing =
    'no "ir" kernelspec (apt-get install r-cran-irkernel, then R -e "IRkernel::installspec(sys_prefix = TRUE)")';
  // In CI no layer may skip quietly: a missing R fails the run and says so.
  if (process.env.CI === 'true') {
    throw new Error(`IRkernel is missing, and CI=true: ${missing}.`);
  }
  console.warn(`Skipping the IRkernel tests: ${missing}.`);
}

const marker = path.join(
  os.tmpdir(),
  `secrets-injection-marker-r-${process.pid}-${Date.now()}`
);
const secrets: Record<string, string> = {
  ...trickyValues(marker),
  'my-api-key': 'hyphenated names are fine in R'
};
const names = Object.keys(secrets).sort();

/**
 * An R cell that prints `name=<hex of the variable's bytes>` per secret.
 */
const PRINT_HEX = [
  'local({',
  `for (n in c(${names.map(n => `'${n}'`).join(', ')})) {`,
  "  cat(n, '=', paste(as.character(charToRaw(Sys.getenv(n))), collapse = ''), '\\n', sep = '')",
  '}',
  '})'
].join('\n');

(available ? describe : describe.skip)('IRkernel', () => {
  let fixture: IServerFixture | undefined;

  beforeAll(async () => {
    fixture = await startFixture(secrets);
  });

  afterAll(async () => {
    await fixture?.stop();
  });

  it('runs its first cell with every secret set, byte for byte, and runs no value', async () => {
    // Given a new R kernel, started through REST
    const session = await fixture!.startSession('ir');

    // When the first cell reads every secret at once
    const execution = await execute(session.kernel!, PRINT_HEX);

    // Then each holds its exact bytes, the cell is the first, and no value
    // was run as code
    expect(execution.reply.status).toBe('ok');
    expect(execution.reply.execution_count).toBe(1);
    const seen = Object.fromEntries(
      execution.stdout
        .trim()
        .split(/\r?\n/)
        .map(line => line.split('='))
    );
    expect(names.filter(name => seen[name] !== hex(secrets[name]))).toEqual([]);
    const state = await fixture!.rest.kernel(session.kernel!.id);
    expect(state.state).toBe('loaded');
    expect(state.language).toBe('R');
    expect(fs.existsSync(marker)).toBe(false);

    // And a change reaches it, leaving none of the injection's names in the
    // global environment
    await fixture!.rest.update(fixture!.ids.TRICKY_QUOTES, { value: 'after' });
    await waitFor(async () => {
      const probe = await execute(
        session.kernel!,
        "cat(Sys.getenv('TRICKY_QUOTES'))"
      );
      return probe.stdout === 'after';
    }, 60000);
    const globals = await execute(
      session.kernel!,
      "cat(ls(all.names = TRUE), sep = '\\n')"
    );
    const left = globals.stdout.split(/\r?\n/).filter(Boolean);
    for (const name of ['token', 'decode', 'secrets', 'old', 'gone']) {
      expect(left).not.toContain(name);
    }
    await fixture!.closeSession(session);
  });
});
