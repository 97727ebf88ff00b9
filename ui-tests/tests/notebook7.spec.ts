import { expect, test } from '@playwright/test';

import {
  API,
  digestCode,
  digestOutput,
  uniqueName,
  writeNotebook
} from './helpers';

/**
 * The Secrets panel and the kernel status in Notebook 7 (`jupyter
 * notebook`), driven as a person would: menus, buttons and keys. Galata's
 * fixtures are made for JupyterLab's page, so this suite uses Playwright's.
 */

test.describe('Notebook 7', () => {
  // A kernel starts, and the first cell runs: slow on a busy machine.
  test.setTimeout(180 * 1000);

  test('creates a secret in the notebook page’s sidebar, then reads it in the first cell', async ({
    page
  }) => {
    const name = uniqueName('nb7-key');
    const value = `notebook 7 value of ${name}`;
    const path = `${name}.ipynb`;
    await writeNotebook(page, path, digestCode(name));

    // Given the notebook open in Notebook 7, its kernel started
    await page.goto(`/notebooks/${path}`);
    const toolbar = page.locator('.jp-NotebookPanel-toolbar');
    const status = toolbar.getByRole('status', { name: 'Kernel secrets' });
    await expect(status).toBeVisible({ timeout: 60000 });
    await expect(status).toHaveText('0 secrets', { timeout: 30000 });

    // When the user opens View ▸ Left Sidebar ▸ Show Secrets (Galata's
    // menu and cell helpers know JupyterLab's page, not Notebook 7's)
    // eslint-disable-next-line jupyter/galata-prefer-menu-helper
    await page
      .getByRole('menubar')
      .getByRole('menuitem', { name: 'View', exact: true })
      .click();
    // (Lumino names a submenu's entry by its text only)
    await page
      .getByRole('menu')
      .getByText('Left Sidebar', { exact: true })
      .hover();
    await page
      .getByRole('menuitemcheckbox', { name: 'Show Secrets' })
      .or(page.getByRole('menuitem', { name: 'Show Secrets' }))
      .click();
    const region = page.getByRole('region', { name: 'Secrets' });
    await expect(region).toBeVisible();

    // And creates a secret there
    await region.getByRole('button', { name: 'Create', exact: true }).click();
    await region.getByRole('textbox', { name: 'Name' }).fill(name);
    await region.getByRole('textbox', { name: 'Content' }).fill(value);
    await region.getByRole('button', { name: 'Create', exact: true }).click();
    await expect(
      region.getByRole('button', { name: `Options for ${name}`, exact: true })
    ).toBeVisible();

    // Then the toolbar says the kernel has it, by name only
    await expect(status).toHaveText('1 secret');
    await expect(status).toHaveAttribute('title', new RegExp(name));
    expect(await status.getAttribute('title')).not.toContain(value);

    // And the first cell reads it (its digest: a printed value is hidden)
    // eslint-disable-next-line jupyter/galata-prefer-notebook-cell-helper
    await page.locator('.jp-Cell .cm-content').first().click();
    // eslint-disable-next-line jupyter/galata-prefer-notebook-cell-helper
    await page.keyboard.press('Shift+Enter');
    const cell = page.locator('.jp-CodeCell').first();
    await expect(cell.locator('.jp-OutputArea-output')).toHaveText(
      digestOutput(value),
      { timeout: 30000 }
    );
    await expect(cell.locator('.jp-InputPrompt')).toHaveText('[1]:');

    // And the page never held the value
    expect(await page.content()).not.toContain(value);
    const listed = await page.request.get(`${API}/secrets`);
    expect(
      (await listed.json()).secrets.map((s: { name: string }) => s.name)
    ).toContain(name);
  });
});
