import { expect, test } from '@jupyterlab/galata';

import { createSecret, uniqueName } from './helpers';

/**
 * A value printed by a cell never reaches the page nor the saved notebook:
 * the server replaces it with `[REDACTED:<name>]` in every output.
 */
test.describe('Redaction', () => {
  // Kernels start slowly on a busy machine.
  test.setTimeout(180 * 1000);

  test('a cell that prints a secret shows [REDACTED:<name>], and the saved notebook holds no value', async ({
    page,
    tmpPath
  }) => {
    const name = uniqueName('redacted-key');
    const value = `sk-live-${name}-Zq81mW`;
    await createSecret(page, name, value);

    // Given a notebook that prints the secret, and returns it as a result
    await page.notebook.createNew('redaction.ipynb', { kernel: 'python3' });
    await page.notebook.setCell(
      0,
      'code',
      `import os; print(os.environ['${name}'])`
    );
    await page.notebook.addCell('code', `os.environ['${name}']`);

    // When both cells run
    await page.notebook.run();

    // Then both outputs show the name, never the value
    expect(
      ((await page.notebook.getCellTextOutput(0)) ?? []).join('').trim()
    ).toBe(`[REDACTED:${name}]`);
    expect(
      ((await page.notebook.getCellTextOutput(1)) ?? []).join('').trim()
    ).toBe(`'[REDACTED:${name}]'`);
    expect(await page.content()).not.toContain(value);

    // And the saved notebook keeps the outputs as shown, without the value
    await page.notebook.save();
    const saved = await page.request.get(
      `/api/contents/${tmpPath}/redaction.ipynb?content=1&type=notebook`
    );
    expect(saved.status()).toBe(200);
    const file = JSON.stringify(await saved.json());
    expect(file).toContain(`[REDACTED:${name}]`);
    expect(file).not.toContain(value);
  });
});
