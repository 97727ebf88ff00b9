import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import type { Locator } from '@playwright/test';

import {
  API,
  createSecret,
  digestCode,
  digestOutput,
  environment,
  sha256Hex,
  uniqueName
} from './helpers';

/**
 * Secrets reach the notebook's kernel as environment variables, in a real
 * JupyterLab with a real ipykernel: the server sets them, and the toolbar
 * shows what it says. All spec files share one server and store, so every
 * test uses names of its own. Cells print a digest of the value: the server
 * hides a printed value.
 */

async function environmentSize(page: IJupyterLabPageFixture): Promise<number> {
  return Object.keys(await environment(page)).length;
}

/**
 * The toolbar item of the open notebook that shows its kernel's secrets.
 */
async function secretsStatus(page: IJupyterLabPageFixture): Promise<Locator> {
  const toolbar = await page.notebook.getToolbarLocator();
  return toolbar!.getByRole('status', { name: 'Kernel secrets' });
}

/**
 * Run the first cell and return its output text.
 */
async function runFirstCell(page: IJupyterLabPageFixture): Promise<string> {
  await page.notebook.runCell(0);
  return ((await page.notebook.getCellTextOutput(0)) ?? []).join('');
}

test.describe('Secrets in the kernel', () => {
  // Kernels start slowly on a busy machine.
  test.setTimeout(180 * 1000);

  test('a new notebook reads a secret in its first cell, and every change at once', async ({
    page,
    tmpPath
  }) => {
    const name = uniqueName('kernel-key');
    const value = `first value of ${name}`;
    const edited = `edited value of ${name}`;
    const reloaded = `reloaded value of ${name}`;
    const secret = await createSecret(page, name, value);

    // Given a new notebook whose first cell reads the secret at once
    await page.notebook.createNew('secrets.ipynb', { kernel: 'python3' });
    await page.notebook.setCell(0, 'code', digestCode(name));

    // Then it sees the value, and the cell is the kernel's first
    expect(await runFirstCell(page)).toBe(digestOutput(value));
    const cell = await page.notebook.getCellLocator(0);
    await expect(cell!.locator('.jp-InputPrompt')).toHaveText('[1]:');

    // And the toolbar shows how many secrets the kernel holds, by name only
    const status = await secretsStatus(page);
    const count = await environmentSize(page);
    await expect(status).toHaveText(
      count === 1 ? '1 secret' : `${count} secrets`
    );
    await expect(status).toHaveAttribute('title', new RegExp(name));
    expect(await status.getAttribute('title')).not.toContain(value);

    // When the secret is edited in the panel
    await page.getByRole('tab', { name: 'Secrets', exact: true }).click();
    const region = page.getByRole('region', { name: 'Secrets' });
    await region
      .getByRole('button', { name: `Options for ${name}`, exact: true })
      .click();
    await page
      .getByRole('menu')
      .getByRole('menuitem', { name: 'Edit', exact: true })
      .click();
    await region.getByRole('textbox', { name: 'Content' }).fill(edited);
    await region.getByRole('button', { name: 'Save', exact: true }).click();
    await expect(region.getByRole('textbox', { name: 'Content' })).toHaveCount(
      0
    );

    // Then the running kernel has the new value, without a restart (how
    // long it takes is measured in bench/, not asserted here)
    await expect.poll(() => runFirstCell(page)).toBe(digestOutput(edited));

    // When it changes behind JupyterLab's back, and the user reloads the
    // secrets from the command palette
    const current = await (
      await page.request.get(`${API}/secrets/${secret.id}`)
    ).json();
    const patched = await page.request.patch(`${API}/secrets/${secret.id}`, {
      data: { version: current.version, value: reloaded }
    });
    expect(patched.status()).toBe(200);
    await page.notebook.activate('secrets.ipynb');
    await page.keyboard.press('Control+Shift+C');
    const palette = page.getByRole('region', {
      name: 'Command Palette Section'
    });
    await palette.getByRole('textbox').fill('Reload secrets into kernel');
    await palette
      .getByRole('menuitem', { name: 'Reload secrets into kernel' })
      .click();
    await expect(
      page.locator('.jp-Notification-Toast-success', {
        hasText: 'loaded into the kernel'
      })
    ).toBeVisible();

    // Then the kernel has it
    expect(await runFirstCell(page)).toBe(digestOutput(reloaded));

    // And the saved notebook, outputs cleared, holds no value nor any
    // trace of the injection
    await page.evaluate(() =>
      (window as any).jupyterapp.commands.execute(
        'notebook:clear-all-cell-outputs'
      )
    );
    await page.notebook.save();
    const saved = await page.request.get(
      `/api/contents/${tmpPath}/secrets.ipynb?content=1&type=notebook`
    );
    expect(saved.status()).toBe(200);
    const file = JSON.stringify(await saved.json());
    expect(file).toContain(`os.environ['${name}']`);
    for (const text of [
      value,
      edited,
      reloaded,
      'JUPYTERLAB_SECRETS',
      'b64decode'
    ]) {
      expect(file).not.toContain(text);
    }
    // nor does the page
    const html = await page.content();
    for (const text of [value, edited, reloaded]) {
      expect(html).not.toContain(text);
    }
  });
});

test.describe('Secrets in a console', () => {
  // Kernels start slowly on a busy machine.
  test.setTimeout(180 * 1000);

  test('a new console reads a secret in its first cell, and shows the count', async ({
    page
  }) => {
    const name = uniqueName('console-key');
    const value = `console value of ${name}`;
    await createSecret(page, name, value);

    // Given a new Python console whose first cell reads the secret at once
    await page.evaluate(() => {
      void (window as any).jupyterapp.commands.execute('console:create', {
        kernelPreference: { name: 'python3' }
      });
    });
    // A console replaces its prompt cell when its kernel arrives, dropping
    // what was typed before: type as soon as it has a kernel, still starting.
    await page.waitForFunction(
      () =>
        !!(window as any).jupyterapp.shell.currentWidget?.sessionContext
          ?.session?.kernel
    );
    const prompt = page.locator('.jp-CodeConsole-promptCell .cm-content');
    const code = digestCode(name);
    await prompt.click();
    await page.keyboard.type(code);
    await expect(prompt).toHaveText(code);
    await page.keyboard.press('Shift+Enter');

    // Then it shows the value, as the kernel's first cell
    const cell = page.locator('.jp-CodeConsole-content .jp-CodeCell').last();
    await expect(cell.locator('.jp-OutputArea-output')).toHaveText(
      digestOutput(value)
    );
    await expect(cell.locator('.jp-InputPrompt')).toHaveText('[1]:');

    // And the console's toolbar shows the count
    const count = await environmentSize(page);
    await expect(
      page
        .locator('.jp-ConsolePanel')
        .getByRole('status', { name: 'Kernel secrets' })
    ).toHaveText(count === 1 ? '1 secret' : `${count} secrets`);
  });
});

test.describe('Secrets in a restarted kernel', () => {
  // Kernels start slowly on a busy machine.
  test.setTimeout(180 * 1000);

  // Galata's kernel tracking proxies POST /api/kernels/{id}/restart and
  // answers 201 where JupyterLab expects 200, which makes every restart
  // fail in the page: leave the kernels API alone here.
  test.use({ kernels: null });

  test('a restarted kernel reads the secret in its first cell, and #!:bash cells see it', async ({
    page
  }) => {
    const name = uniqueName('restart-key');
    const value = `restart value of ${name}`;
    await createSecret(page, name, value);
    await page.notebook.createNew('restart.ipynb', { kernel: 'python3' });
    await page.notebook.setCell(
      0,
      'code',
      `#!:bash\nprintenv ${name} | sha256sum | cut -c1-64`
    );
    // The #!:bash transformer is set once the kernel is idle after start
    await expect
      .poll(() => runFirstCell(page))
      .toBe(`${sha256Hex(`${value}\n`)}\n`);

    // When the user restarts the kernel and runs a cell at once
    // The command waits for the dialog's answer: do not wait for it.
    await page.evaluate(() => {
      void (window as any).jupyterapp.commands.execute(
        'notebook:restart-kernel'
      );
    });
    await page
      .getByRole('dialog')
      .getByRole('button', { name: 'Confirm Kernel Restart' })
      .click();
    await page.notebook.setCell(0, 'code', digestCode(name));
    expect(await runFirstCell(page)).toBe(digestOutput(value));

    // Then it is the new kernel's first cell, and it sees the secret
    const cell = await page.notebook.getCellLocator(0);
    await expect(cell!.locator('.jp-InputPrompt')).toHaveText('[1]:');
  });
});
