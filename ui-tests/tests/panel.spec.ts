import { expect, galata, test } from '@jupyterlab/galata';
import type { Page } from '@playwright/test';

import {
  API,
  chooseFromMenu,
  createSecret,
  IMeta,
  item,
  listSecrets,
  openPanel,
  reveal,
  uniqueName
} from './helpers';

/**
 * The secret of that name, as the API lists it.
 */
async function findSecret(
  page: Page,
  name: string
): Promise<IMeta | undefined> {
  return (await listSecrets(page)).find(s => s.name === name);
}

/**
 * The page's HTML once every form is closed must hold none of the values.
 */
async function expectNoValueInPage(page: Page, values: string[]) {
  await expect(page.locator('.jp-SecretsPanel-form')).toHaveCount(0);
  const html = await page.content();
  for (const value of values) {
    for (const line of value.split('\n').filter(l => l.length > 8)) {
      expect(html).not.toContain(line);
    }
  }
}

test.describe('Secrets panel', () => {
  test('creates a secret with a multi-line value, listed as ***', async ({
    page
  }) => {
    const name = uniqueName('pem-key');
    const value = `-----BEGIN KEY-----\n${name}-LINE-ONE\n${name}-LINE-TWO\n-----END KEY-----\n`;

    // Given the Secrets panel
    const region = await openPanel(page);

    // When the user clicks Create, fills in Name and Content, and clicks Create
    await region.getByRole('button', { name: 'Create', exact: true }).click();
    const nameBox = region.getByRole('textbox', { name: 'Name' });
    await expect(nameBox).toBeFocused();
    await nameBox.fill(name);
    await region.getByLabel('Content').fill(value);
    await region.getByRole('button', { name: 'Create', exact: true }).click();

    // Then the list shows the secret as ***
    const listed = item(region, name);
    await expect(listed).toBeVisible();
    await expect(listed).toContainText(name);
    await expect(listed).toContainText('***');
    await expect(listed.locator('time')).toHaveText(/now|second|minute/);

    // And the server stores the value byte for byte
    const meta = await findSecret(page, name);
    expect(meta).toBeDefined();
    expect(await reveal(page, meta!.id)).toBe(value);

    // And the value is nowhere in the page
    await expectNoValueInPage(page, [value]);
  });

  test('edits the name and the content of a secret', async ({ page }) => {
    const name = uniqueName('api-token');
    const renamed = uniqueName('api-token-renamed');
    const value = `old-${name}-value`;
    const changed = `new-${name}-value\nsecond line`;
    const created = await createSecret(page, name, value);

    // Given a listed secret
    const region = await openPanel(page);
    await expect(item(region, name)).toBeVisible();

    // When the user edits it from its menu
    await chooseFromMenu(region, name, 'Edit');
    const nameBox = region.getByRole('textbox', { name: 'Name' });
    const content = region.getByRole('textbox', { name: 'Content' });
    await expect(nameBox).toHaveValue(name);
    await expect(nameBox).toBeFocused();
    // The content is fetched only when the user asks to see it
    await expect(content).toHaveValue('');
    await expect(content).toHaveClass(/jp-mod-masked/);
    await region.getByRole('button', { name: 'Show content' }).click();
    await expect(content).toHaveValue(value);
    await expect(content).not.toHaveClass(/jp-mod-masked/);
    await region.getByRole('button', { name: 'Hide content' }).click();
    await expect(content).toHaveClass(/jp-mod-masked/);
    await nameBox.fill(renamed);
    await content.fill(changed);
    await region.getByRole('button', { name: 'Save', exact: true }).click();

    // Then the list shows the new name and not the old one
    await expect(item(region, renamed)).toBeVisible();
    await expect(item(region, name)).toHaveCount(0);

    // And the server has both changes on the same secret
    const meta = await findSecret(page, renamed);
    expect(meta?.id).toBe(created.id);
    expect(meta?.version).toBe(created.version + 1);
    expect(await reveal(page, created.id)).toBe(changed);
    await expectNoValueInPage(page, [value, changed]);
  });

  test('renames a secret without fetching its value', async ({ page }) => {
    const name = uniqueName('rename-only');
    const renamed = uniqueName('rename-only-new');
    const value = `kept-${name}-value`;
    const created = await createSecret(page, name, value);
    const reveals: string[] = [];
    page.on('request', request => {
      if (request.url().endsWith('/reveal')) {
        reveals.push(request.url());
      }
    });

    // Given the Edit form of a listed secret
    const region = await openPanel(page);
    await chooseFromMenu(region, name, 'Edit');
    const nameBox = region.getByRole('textbox', { name: 'Name' });
    await expect(nameBox).toHaveValue(name);

    // When the user changes only the name and saves
    await nameBox.fill(renamed);
    await region.getByRole('button', { name: 'Save', exact: true }).click();

    // Then the secret is renamed, its value kept, and the page never asked for it
    await expect(item(region, renamed)).toBeVisible();
    expect(reveals).toEqual([]);
    expect(await reveal(page, created.id)).toBe(value);
    await expectNoValueInPage(page, [value]);
  });

  test('clones a secret into an independent copy', async ({ page }) => {
    const name = uniqueName('db-password');
    const copyName = uniqueName('db-password-two');
    const value = `original-${name}-value`;
    const copyValue = `copied-${name}-value`;
    const original = await createSecret(page, name, value);

    // Given a listed secret
    const region = await openPanel(page);
    await expect(item(region, name)).toBeVisible();

    // When the user clones it with a new name and content
    await chooseFromMenu(region, name, 'Clone');
    const nameBox = region.getByRole('textbox', { name: 'Name' });
    const content = region.getByRole('textbox', { name: 'Content' });
    await expect(nameBox).toHaveValue(`${name}-copy`);
    await expect(content).toHaveValue('');
    await nameBox.fill(copyName);
    await content.fill(copyValue);
    await region.getByRole('button', { name: 'Create', exact: true }).click();

    // Then both are listed, with their own values
    await expect(item(region, copyName)).toBeVisible();
    await expect(item(region, name)).toBeVisible();
    const copy = (await findSecret(page, copyName))!;
    expect(copy.id).not.toBe(original.id);
    expect(await reveal(page, copy.id)).toBe(copyValue);
    expect(await reveal(page, original.id)).toBe(value);

    // When the copy is edited, the original stays as it was
    await chooseFromMenu(region, copyName, 'Edit');
    await region.getByRole('button', { name: 'Show content' }).click();
    await expect(content).toHaveValue(copyValue);
    await content.fill(`${copyValue}-edited`);
    await region.getByRole('button', { name: 'Save', exact: true }).click();
    await expect(item(region, copyName)).toBeVisible();
    expect(await reveal(page, copy.id)).toBe(`${copyValue}-edited`);
    expect(await reveal(page, original.id)).toBe(value);

    // When the original is deleted, the copy stays
    await chooseFromMenu(region, name, 'Delete');
    await page
      .getByRole('dialog')
      .getByRole('button', { name: 'Delete', exact: true })
      .click();
    await expect(item(region, name)).toHaveCount(0);
    await expect(item(region, copyName)).toBeVisible();
    expect(await findSecret(page, name)).toBeUndefined();
    expect(await reveal(page, copy.id)).toBe(`${copyValue}-edited`);
    await expectNoValueInPage(page, [value, copyValue]);
  });

  test('deletes a secret after confirmation', async ({ page }) => {
    const name = uniqueName('old-token');
    await createSecret(page, name, `value-of-${name}`);

    // Given a listed secret
    const region = await openPanel(page);
    await expect(item(region, name)).toBeVisible();

    // When the user chooses Delete, then declines
    await chooseFromMenu(region, name, 'Delete');
    const dialog = page.getByRole('dialog');
    await expect(dialog).toContainText(name);
    await dialog.getByRole('button', { name: 'Cancel', exact: true }).click();

    // Then nothing is deleted
    await expect(item(region, name)).toBeVisible();
    expect(await findSecret(page, name)).toBeDefined();

    // When the user chooses Delete and confirms
    await chooseFromMenu(region, name, 'Delete');
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();

    // Then a notification says so, and the secret is gone
    await expect(
      page.getByText(`Secret "${name}" has been deleted`, { exact: true })
    ).toBeVisible();
    await expect(item(region, name)).toHaveCount(0);
    expect(await findSecret(page, name)).toBeUndefined();
  });

  test('explains an invalid name and creates nothing', async ({ page }) => {
    const taken = uniqueName('taken-name');
    await createSecret(page, taken, 'some value');
    const region = await openPanel(page);
    await expect(item(region, taken)).toBeVisible();
    const before = (await listSecrets(page)).length;

    // Given the Create form
    await region.getByRole('button', { name: 'Create', exact: true }).click();
    const nameBox = region.getByRole('textbox', { name: 'Name' });
    const content = region.getByRole('textbox', { name: 'Content' });

    // When the user types names that break the rules, the reason shows
    const cases: Array<[string, RegExp]> = [
      ['1st-key', /start with a Latin letter/],
      ['ab', /too short/],
      ['my key', /only Latin letters, digits, hyphens and underscores/],
      ['trailing-', /end with a Latin letter or a digit/],
      ['PATH', /reserved/],
      ['JUPYTER_TOKEN', /reserved/],
      [taken, /already exists/]
    ];
    for (const [name, reason] of cases) {
      await nameBox.fill(name);
      await expect(nameBox).toHaveAttribute('aria-invalid', 'true');
      await expect(nameBox).toHaveAccessibleDescription(reason);
    }

    // And submitting keeps the form, with what was typed
    await content.fill('a value');
    await region.getByRole('button', { name: 'Create', exact: true }).click();
    await expect(nameBox).toHaveValue(taken);
    await expect(nameBox).toBeFocused();

    // And empty content is refused with a reason too
    const good = uniqueName('good-name');
    await nameBox.fill(good);
    await expect(nameBox).toHaveAttribute('aria-invalid', 'false');
    await content.fill('');
    await region.getByRole('button', { name: 'Create', exact: true }).click();
    await expect(content).toHaveAttribute('aria-invalid', 'true');
    await expect(content).toHaveAccessibleDescription(/cannot be empty/);

    // Then nothing was created
    const after = await listSecrets(page);
    expect(after.length).toBe(before);
    expect(after.find(s => s.name === good)).toBeUndefined();
  });

  test('shows the server refusal in the form and keeps what was typed', async ({
    page
  }) => {
    const name = uniqueName('shared-api-key');
    const created = await createSecret(page, name, 'first');
    const region = await openPanel(page);

    // Given the Edit form, opened on version 1
    await chooseFromMenu(region, name, 'Edit');
    const content = region.getByRole('textbox', { name: 'Content' });
    await region.getByRole('button', { name: 'Show content' }).click();
    await expect(content).toHaveValue('first');

    // When someone else changes the secret, then the user saves
    const other = await page.request.patch(`${API}/secrets/${created.id}`, {
      data: { version: created.version, value: 'changed elsewhere' }
    });
    expect(other.status()).toBe(200);
    await content.fill('typed here');
    await region.getByRole('button', { name: 'Save', exact: true }).click();

    // Then the form says so and keeps what was typed
    await expect(region.getByRole('alert')).toContainText(
      'changed elsewhere since you opened it'
    );
    await expect(content).toHaveValue('typed here');
    expect(await reveal(page, created.id)).toBe('changed elsewhere');

    // When the user reloads and saves again
    await region.getByRole('button', { name: 'Reload', exact: true }).click();
    await expect(region.getByRole('status')).toContainText('latest version');
    await expect(content).toHaveValue('typed here');
    await region.getByRole('button', { name: 'Save', exact: true }).click();

    // Then the typed content is stored
    await expect(item(region, name)).toBeVisible();
    expect(await reveal(page, created.id)).toBe('typed here');
  });

  test('keeps the list across a page reload', async ({ page }) => {
    const name = uniqueName('kept-key');
    let region = await openPanel(page);
    await region.getByRole('button', { name: 'Create', exact: true }).click();
    await region.getByRole('textbox', { name: 'Name' }).fill(name);
    await region.getByRole('textbox', { name: 'Content' }).fill('kept');
    await region.getByRole('button', { name: 'Create', exact: true }).click();
    await expect(item(region, name)).toBeVisible();

    await page.reload();

    region = await openPanel(page);
    await expect(item(region, name)).toBeVisible();
  });

  test('works from the keyboard: Escape cancels, Enter submits', async ({
    page
  }) => {
    const cancelled = uniqueName('cancelled-key');
    const byEnter = uniqueName('enter-key');
    const byCtrlEnter = uniqueName('ctrl-enter-key');
    const region = await openPanel(page);
    const create = region.getByRole('button', { name: 'Create', exact: true });
    const nameBox = region.getByRole('textbox', { name: 'Name' });
    const content = region.getByRole('textbox', { name: 'Content' });

    // Escape cancels: nothing is created and the focus goes back
    await create.click();
    await expect(nameBox).toBeFocused();
    await page.keyboard.type(cancelled);
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    await expect(content).toBeFocused();
    await page.keyboard.type('never stored');
    await page.keyboard.press('Escape');
    await expect(nameBox).toHaveCount(0);
    await expect(create).toBeFocused();
    expect(await findSecret(page, cancelled)).toBeUndefined();

    // Enter in Name submits
    await create.press('Enter');
    await expect(nameBox).toBeFocused();
    await content.fill('line one\nline two');
    await nameBox.fill(byEnter);
    await nameBox.press('Enter');
    await expect(item(region, byEnter)).toBeVisible();
    const meta = await findSecret(page, byEnter);
    expect(await reveal(page, meta!.id)).toBe('line one\nline two');

    // Enter in Content adds a line; Ctrl+Enter submits
    await create.click();
    await nameBox.fill(byCtrlEnter);
    await content.press('a');
    await content.press('Enter');
    await content.press('b');
    await content.press('Control+Enter');
    await expect(item(region, byCtrlEnter)).toBeVisible();
    const other = await findSecret(page, byCtrlEnter);
    expect(await reveal(page, other!.id)).toBe('a\nb');

    // The options menu opens from the keyboard with its first entry active
    await region
      .getByRole('button', { name: `Options for ${byCtrlEnter}`, exact: true })
      .press('Enter');
    const menu = page.getByRole('menu');
    await expect(menu.getByRole('menuitem', { name: 'Clone' })).toHaveClass(
      /lm-mod-active/
    );
    await page.keyboard.press('Escape');
    await expect(menu).toHaveCount(0);
  });

  test('filters the list as the user types', async ({ page }) => {
    const tag = uniqueName('filter');
    const apple = `${tag}-apple`;
    const apricot = `${tag}-apricot`;
    const banana = `${tag}-banana`;
    for (const name of [apple, apricot, banana]) {
      await createSecret(page, name, 'v');
    }
    const region = await openPanel(page);
    await expect(item(region, banana)).toBeVisible();

    const filter = region.getByRole('textbox', { name: 'Filter secrets' });
    await filter.pressSequentially(`${tag}-ap`);
    await expect(item(region, apple)).toBeVisible();
    await expect(item(region, apricot)).toBeVisible();
    await expect(item(region, banana)).toHaveCount(0);

    await filter.pressSequentially('x');
    await expect(region.getByRole('listitem')).toHaveCount(0);
    await expect(region.getByRole('status')).toContainText('No secret name');

    await filter.press('Escape');
    await expect(filter).toHaveValue('');
    await expect(item(region, banana)).toBeVisible();
  });

  test('offers the allowed entries in the menu and copies a snippet', async ({
    page,
    context
  }) => {
    const name = uniqueName('snippet-key');
    await createSecret(page, name, 'v');
    await context.grantPermissions(['clipboard-read', 'clipboard-write']);
    const region = await openPanel(page);

    await region
      .getByRole('button', { name: `Options for ${name}`, exact: true })
      .click();
    const menu = page.getByRole('menu');
    for (const entry of [
      'Clone',
      'Edit',
      'Delete',
      'Access',
      'Copy snippet',
      'History'
    ]) {
      await expect(
        menu.getByRole('menuitem', { name: entry, exact: true })
      ).toBeEnabled();
    }
    await expect(
      menu.getByRole('menuitem', { name: 'Add to project' })
    ).toHaveCount(0);
    await menu.getByRole('menuitem', { name: 'Copy snippet' }).click();

    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(
      `os.environ['${name}']`
    );

    // Access explains who configures sharing
    await chooseFromMenu(region, name, 'Access');
    const dialog = page.getByRole('dialog');
    await expect(dialog).toContainText('not shared with any community');
    await expect(dialog).toContainText('configured by an admin');
    await dialog.getByRole('button', { name: 'Close' }).click();

    // A right click on the item offers the same entries
    await item(region, name).click({ button: 'right' });
    for (const entry of ['Edit', 'History']) {
      await expect(
        page
          .getByRole('menu')
          .getByRole('menuitem', { name: entry, exact: true })
      ).toBeEnabled();
    }
    await page.keyboard.press('Escape');
  });

  test.describe('with showing content turned off in the settings', () => {
    test.use({
      mockSettings: {
        ...galata.DEFAULT_SETTINGS,
        'jupyterlab-secrets:panel': { allowShowContent: false }
      }
    });

    test('keeps the content masked', async ({ page }) => {
      const region = await openPanel(page);
      await region.getByRole('button', { name: 'Create', exact: true }).click();
      const content = region.getByRole('textbox', { name: 'Content' });
      await content.fill('masked');

      await expect(content).toHaveClass(/jp-mod-masked/);
      await expect(
        region.getByRole('button', { name: 'Show content' })
      ).toHaveCount(0);
      await page.keyboard.press('Escape');
    });
  });

  test('lists secrets shared with the project in their own section', async ({
    page
  }) => {
    const own = uniqueName('own-key');
    const sharedName = uniqueName('team-key');
    await createSecret(page, own, 'v');
    const shared = {
      id: `shared${Date.now()}`,
      name: sharedName,
      project: 'other-project',
      created_by: 'alice',
      created_at: '2026-01-01T00:00:00.000Z',
      updated_at: '2026-01-01T00:00:00.000Z',
      version: 1,
      shared_with: ['ml-team'],
      origin: 'shared',
      attached: false,
      editable: false
    };
    // The test server has no communities: the list gets a shared secret here.
    let attached = false;
    await page.route(
      /\/jupyterlab-secrets\/api\/secrets(\?.*)?$/,
      async route => {
        // Always the whole list: a 304 would hide the mocked changes.
        const headers = { ...route.request().headers() };
        delete headers['if-none-match'];
        const response = await route.fetch({ headers });
        const body = await response.json();
        body.secrets.push({ ...shared, attached });
        await route.fulfill({ response, json: body });
      }
    );
    await page.route(`**${API}/secrets/${shared.id}/attachment*`, route => {
      attached = route.request().method() === 'PUT';
      return route.fulfill({ json: { ...shared, attached } });
    });

    // Opening the panel fetches the list anew
    const region = await openPanel(page);
    const section = region.getByRole('region', { name: 'Shared with project' });
    await expect(section).toBeVisible();
    await expect(item(section, sharedName)).toContainText('***');
    await expect(item(section, sharedName)).toContainText('Not added');
    await expect(item(section, own)).toHaveCount(0);

    await section
      .getByRole('button', { name: `Options for ${sharedName}`, exact: true })
      .click();
    const menu = page.getByRole('menu');
    await expect(menu.getByRole('menuitem', { name: 'Clone' })).toBeEnabled();
    for (const entry of ['Edit', 'Delete', 'Access']) {
      await expect(
        menu.getByRole('menuitem', { name: entry, exact: true })
      ).toBeDisabled();
    }
    await expect(
      menu.getByRole('menuitem', { name: 'Remove from project' })
    ).toHaveCount(0);
    await menu.getByRole('menuitem', { name: 'Add to project' }).click();
    await expect(item(section, sharedName)).toContainText('Added to project');

    await section
      .getByRole('button', { name: `Options for ${sharedName}`, exact: true })
      .click();
    await expect(
      menu.getByRole('menuitem', { name: 'Remove from project' })
    ).toBeEnabled();
    await page.keyboard.press('Escape');
  });

  test('reaches the end of a long list by scrolling the panel', async ({
    page
  }) => {
    // Given more secrets than the sidebar can show at once
    const prefix = uniqueName('zz-many');
    for (let i = 0; i < 40; i++) {
      await createSecret(page, `${prefix}-${String(i).padStart(2, '0')}`, 'v');
    }
    const last = `${prefix}-39`;

    // When the user opens the last one's menu
    const region = await openPanel(page);
    await region
      .getByRole('button', { name: `Options for ${last}`, exact: true })
      .click();

    // Then the menu opens: the panel scrolled to it
    await expect(
      page.getByRole('menu').getByRole('menuitem', { name: 'Clone' })
    ).toBeEnabled();
    await page.keyboard.press('Escape');
  });

  test('shows a list error with the server message', async ({ page }) => {
    await page.route(/\/jupyterlab-secrets\/api\/secrets(\?.*)?$/, route =>
      route.fulfill({
        status: 503,
        json: {
          message:
            'The master key does not decrypt the stored secrets: set JUPYTERLAB_SECRETS_KEY.'
        }
      })
    );
    const region = await openPanel(page);
    const alert = region.getByRole('alert');
    await expect(alert).toContainText(
      'The master key does not decrypt the stored secrets: set JUPYTERLAB_SECRETS_KEY.'
    );
    await expect(alert).not.toContainText('Error:');

    await page.unroute(/\/jupyterlab-secrets\/api\/secrets(\?.*)?$/);
    await alert.getByRole('button', { name: 'Retry' }).click();
    await expect(alert).toHaveCount(0);
  });

  test('opens the Create form from the command palette', async ({ page }) => {
    const region = page.getByRole('region', { name: 'Secrets' });
    await page.keyboard.press('Control+Shift+C');
    await page.getByRole('textbox', { name: /search/i }).fill('Create secret');
    await page.keyboard.press('Enter');
    await expect(region.getByRole('textbox', { name: 'Name' })).toBeFocused();
    await expect(
      region.getByRole('button', { name: 'Create', exact: true })
    ).toHaveCount(1);
  });

  test('looks right in the dark theme', async ({ page }, testInfo) => {
    const name = uniqueName('dark-key');
    await createSecret(page, name, 'v');
    await page.theme.setDarkTheme();
    const region = await openPanel(page);
    await expect(item(region, name)).toBeVisible();
    await region.screenshot({ path: testInfo.outputPath('list-dark.png') });
    await region.getByRole('button', { name: 'Create', exact: true }).click();
    await region.getByRole('textbox', { name: 'Name' }).fill('9-bad');
    await region.getByRole('textbox', { name: 'Content' }).fill('abc\ndef');
    await region.screenshot({ path: testInfo.outputPath('form-dark.png') });
    await expect(region).toHaveCSS('background-color', /rgb\((\d{1,2}), /);
  });
});
