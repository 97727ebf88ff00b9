import { expect, test } from '@jupyterlab/galata';

import {
  API,
  chooseFromMenu,
  createSecret,
  openPanel,
  reveal,
  uniqueName
} from './helpers';

/**
 * A secret's History, from its options menu: its versions with date and
 * author, Restore after a confirmation, and its activity.
 */
test.describe('History', () => {
  test('shows the versions of a secret, and restores an earlier one', async ({
    page
  }) => {
    // Given a secret whose content was edited twice
    const name = uniqueName('history-key');
    const first = `first content of ${name}`;
    const secret = await createSecret(page, name, first);
    let version = secret.version;
    for (const value of [`second content of ${name}`, `third of ${name}`]) {
      const response = await page.request.patch(`${API}/secrets/${secret.id}`, {
        data: { version, value }
      });
      expect(response.status()).toBe(200);
      version = (await response.json()).version;
    }
    const author = (await (
      await page.request.get(`${API}/secrets/${secret.id}`)
    ).json()) as { created_by: string };

    // When the user opens its History
    const region = await openPanel(page);
    await expect(
      region.getByRole('button', { name: `Options for ${name}`, exact: true })
    ).toBeVisible();
    await chooseFromMenu(region, name, 'History');
    const dialog = page.getByRole('dialog');
    await expect(dialog).toContainText(`History of "${name}"`);

    // Then it lists the three versions, newest first, with date and author
    const versions = dialog.getByRole('list', { name: 'Versions' });
    const entries = versions.getByRole('listitem');
    await expect(entries).toHaveCount(3);
    await expect(entries.nth(0)).toContainText(`Version ${version} (current)`);
    await expect(entries.nth(2)).toContainText(`Version ${secret.version}`);
    for (let i = 0; i < 3; i++) {
      await expect(entries.nth(i)).toContainText(`by ${author.created_by}`);
      await expect(entries.nth(i).locator('time')).toHaveAttribute(
        'datetime',
        /^\d{4}-\d\d-\d\dT/
      );
    }
    // The current version cannot be restored over itself
    await expect(entries.nth(0).getByRole('button')).toHaveCount(0);

    // When the user restores the first version, and confirms
    await dialog
      .getByRole('listitem', { name: `Version ${secret.version}` })
      .getByRole('button', { name: 'Restore' })
      .click();
    const confirm = page.getByRole('dialog');
    await expect(confirm).toContainText(`Restore version ${secret.version}?`);
    await confirm.getByRole('button', { name: 'Restore', exact: true }).click();

    // Then it says so, and the secret holds the first content again, as a
    // new version
    await expect(
      page.locator('.jp-Notification-Toast-success', {
        hasText: `Secret "${name}" has been restored to version ${secret.version}`
      })
    ).toBeVisible();
    expect(await reveal(page, secret.id)).toBe(first);
    const history = page.getByRole('dialog');
    await expect(
      history.getByRole('listitem', { name: `Version ${version + 1}` })
    ).toContainText(`Version ${version + 1} (current)`);
    await expect(
      history.getByRole('list', { name: 'Versions' }).getByRole('listitem')
    ).toHaveCount(4);

    // And its activity shows, when the server keeps an audit log
    const audit = await page.request.get(
      `${API}/audit?secret_id=${encodeURIComponent(secret.id)}`
    );
    if (audit.ok()) {
      await expect(history).toContainText('Restored an earlier version');
      await expect(history).toContainText('Created');
    } else {
      await expect(history).toContainText(
        'The activity log is not available on this server.'
      );
    }
    // Never a value
    const text = await history.innerText();
    for (const value of [first, `second content of ${name}`]) {
      expect(text).not.toContain(value);
    }

    await history.getByRole('button', { name: 'Close' }).first().click();
    await expect(page.getByRole('dialog')).toHaveCount(0);
  });
});
