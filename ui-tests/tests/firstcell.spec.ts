import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';

import {
  createSecret,
  digestCode,
  digestOutput,
  uniqueName,
  writeNotebook
} from './helpers';

/**
 * A cell run the moment the kernel indicator leaves "initializing" runs,
 * and sees the secrets: the server sets them in the kernel before any code
 * of the page reaches it. Each case runs 20 times, one kernel after
 * another.
 */

/**
 * How many times each case runs (fewer when trying a change by hand).
 */
const RUNS = Number(process.env.SECRETS_UI_FIRST_CELL_RUNS || 20);

/**
 * Close the current notebook or console, and shut its kernel down through
 * the REST API.
 */
async function closeCurrent(page: IJupyterLabPageFixture): Promise<void> {
  const session = await page.evaluate(() => {
    const widget = (window as any).jupyterapp.shell.currentWidget;
    const id: string | null = widget?.sessionContext?.session?.id ?? null;
    widget?.dispose();
    return id;
  });
  if (session) {
    const response = await page.request.delete(`/api/sessions/${session}`);
    expect(response.status()).toBe(204);
  }
}

test.describe('A cell run at once', () => {
  test.setTimeout(RUNS * 2 * 30 * 1000);

  test(`runs in a notebook the moment its kernel leaves "initializing" (${RUNS} runs)`, async ({
    page,
    tmpPath
  }) => {
    const name = uniqueName('first-cell-key');
    const value = `first cell value of ${name}`;
    await createSecret(page, name, value);

    for (let run = 1; run <= RUNS; run++) {
      const path = `${tmpPath}/first-${run}.ipynb`;
      await writeNotebook(page, path, digestCode(name));

      // Given the notebook opening, its cell focused while the kernel starts
      await page.evaluate(path => {
        void (window as any).jupyterapp.commands.execute('docmanager:open', {
          path
        });
      }, path);
      const panel = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden)');
      // Clicked and keyed as a person does: Galata's cell helpers wait for
      // the kernel, which would hide the race this test is about.
      // eslint-disable-next-line jupyter/galata-prefer-notebook-cell-helper
      await panel
        .locator('.jp-Cell .cm-content')
        .first()
        .click({ timeout: 30000 });

      // When the kernel indicator leaves "initializing", the user presses
      // Shift+Enter at once. The execution indicator shows the session's
      // status; when the toolbar has not drawn it, the session tells (a
      // failure's message says what both and the connection said last).
      await expect
        .poll(
          () =>
            page.evaluate(() => {
              const indicator = document
                .querySelector(
                  '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator'
                )
                ?.getAttribute('data-status');
              const context = (window as any).jupyterapp.shell.currentWidget
                ?.sessionContext;
              const session = context?.kernelDisplayStatus;
              const connection = context?.session?.kernel?.connectionStatus;
              const status = indicator || session || 'none';
              return `${status} (indicator: ${indicator}, session: ${session}, connection: ${connection})`;
            }),
          { timeout: 60000, intervals: [10] }
        )
        .toMatch(/^(?!initializing|unknown|none)/);
      // eslint-disable-next-line jupyter/galata-prefer-notebook-cell-helper
      await page.keyboard.press('Shift+Enter');

      // Then the cell runs, first in its kernel, and sees the secret
      const cell = panel.locator('.jp-CodeCell').first();
      await expect(
        cell.locator('.jp-OutputArea-output'),
        `run ${run} of ${RUNS}`
      ).toHaveText(digestOutput(value), { timeout: 30000 });
      await expect(cell.locator('.jp-InputPrompt')).toHaveText('[1]:');
      await closeCurrent(page);
    }
  });

  test(`runs in a console the moment its kernel leaves "initializing" (${RUNS} runs)`, async ({
    page
  }) => {
    const name = uniqueName('first-console-key');
    const value = `first console value of ${name}`;
    await createSecret(page, name, value);
    const code = digestCode(name);

    for (let run = 1; run <= RUNS; run++) {
      // Given a new Python console
      await page.evaluate(() => {
        void (window as any).jupyterapp.commands.execute('console:create', {
          kernelPreference: { name: 'python3' }
        });
      });
      const panel = page.locator('.jp-ConsolePanel:not(.lm-mod-hidden)');
      await expect(panel).toHaveCount(1);

      // When its kernel indicator leaves "initializing" (the console then
      // has its kernel and its prompt), the user enters a cell at once
      await page.waitForFunction(
        () => {
          const widget = (window as any).jupyterapp.shell.currentWidget;
          const status = widget?.sessionContext?.kernelDisplayStatus;
          return !!status && status !== 'initializing' && status !== 'unknown';
        },
        undefined,
        { polling: 'raf', timeout: 60000 }
      );
      await panel.locator('.jp-CodeConsole-promptCell .cm-content').click();
      await page.keyboard.insertText(code);
      await page.keyboard.press('Shift+Enter');

      // Then it runs, first in its kernel, and sees the secret
      const cell = panel.locator('.jp-CodeConsole-content .jp-CodeCell').last();
      await expect(
        cell.locator('.jp-OutputArea-output'),
        `run ${run} of ${RUNS}`
      ).toHaveText(digestOutput(value), { timeout: 30000 });
      await expect(cell.locator('.jp-InputPrompt')).toHaveText('[1]:');
      await closeCurrent(page);
    }
  });
});
