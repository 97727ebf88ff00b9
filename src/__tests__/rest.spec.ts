import { execFileSync } from 'child_process';
import { readFileSync } from 'fs';
import * as path from 'path';

/**
 * The repository's root, where `jlpm build:schema` runs.
 */
const ROOT = path.resolve(__dirname, '..', '..');

describe('src/rest.ts', () => {
  it('is what openapi-typescript makes of the OpenAPI description', () => {
    // The REST types are generated, never written by hand.
    const cli = path.join(
      ROOT,
      'node_modules',
      'openapi-typescript',
      'bin',
      'cli.js'
    );
    const fresh = execFileSync(
      process.execPath,
      [cli, path.join('jupyterlab_secrets', 'openapi.yaml')],
      { cwd: ROOT, encoding: 'utf-8' }
    );
    const committed = readFileSync(path.join(ROOT, 'src', 'rest.ts'), 'utf-8');

    expect(fresh).toContain('NotInjectedReason:');
    // If this fails, jupyterlab_secrets/openapi.yaml changed: run
    // `jlpm build:schema`, and commit src/rest.ts with it.
    expect(committed).toBe(fresh);
  });
});
