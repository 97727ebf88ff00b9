import { expect } from '@jupyterlab/galata';
import { test, type Browser, type Page } from '@playwright/test';

import { chooseFromMenu, item, openPanel, uniqueName } from './helpers';

/**
 * A team on a real JupyterHub (`hub/serve.py`): users log in through the
 * hub's login page, and the hub starts each one's server in their project
 * with an OpenBao token of their own. alice (proj-a, admin of ml-team)
 * shares a secret from the Secrets panel; carol (proj-b) finds it under
 * Shared with project in hers.
 */

/**
 * Starting a server through the hub takes a while on a busy machine.
 */
const SPAWN_TIMEOUT = 180 * 1000;

/**
 * Log in as `user` on the hub's login page, in a browser context of its
 * own, and wait for JupyterLab on the user's default server.
 */
async function logIn(
  browser: Browser,
  baseURL: string,
  user: string
): Promise<Page> {
  const context = await browser.newContext({ baseURL });
  const page = await context.newPage();
  await page.goto('/hub/login');
  await page.getByLabel('Username:').fill(user);
  await page.getByLabel('Password:').fill('any password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(new RegExp(`/user/${user}/lab`), {
    timeout: SPAWN_TIMEOUT
  });
  await expect(page.getByRole('tab', { name: 'Secrets' })).toBeVisible({
    timeout: SPAWN_TIMEOUT
  });
  return page;
}

test.describe('A team on JupyterHub', () => {
  test.skip(
    !!process.env.SECRETS_UI_HUB_MISSING,
    process.env.SECRETS_UI_HUB_MISSING
  );
  test.setTimeout(2 * SPAWN_TIMEOUT + 120 * 1000);

  test('alice logs in through the hub and shares a secret that carol sees', async ({
    browser,
    baseURL
  }) => {
    const name = uniqueName('hub-key');

    // Given alice, logged in through the hub's login page, on her proj-a server
    const alice = await logIn(browser, baseURL!, 'alice');
    const region = await openPanel(alice);

    // When she creates a secret in the Secrets panel
    await region.getByRole('button', { name: 'Create', exact: true }).click();
    await region.getByRole('textbox', { name: 'Name' }).fill(name);
    await region
      .getByRole('textbox', { name: 'Content' })
      .fill(`value of ${name}`);
    await region.getByRole('button', { name: 'Create', exact: true }).click();
    await expect(item(region, name)).toBeVisible();

    // And turns on ml-team in its Access view: the hub's token makes her its admin
    await chooseFromMenu(region, name, 'Access');
    const dialog = alice.getByRole('dialog');
    const mlTeam = dialog.getByRole('switch', { name: 'ml-team', exact: true });
    await expect(mlTeam).toBeEnabled();
    await mlTeam.click();
    await expect(mlTeam).toHaveAttribute('aria-checked', 'true');
    await expect(mlTeam).toHaveAccessibleDescription(
      'Project proj-b can use it.'
    );
    await alice.keyboard.press('Escape');
    await expect(item(region, name)).toContainText('Shared with ml-team');

    // Then carol, logged in on her proj-b server, finds it shared with her project
    const carol = await logIn(browser, baseURL!, 'carol');
    const shared = (await openPanel(carol)).getByRole('region', {
      name: 'Shared with project'
    });
    await expect(item(shared, name)).toBeVisible({ timeout: 15 * 1000 });
    await expect(item(shared, name)).toContainText(
      'from project proj-a, read-only'
    );

    await alice.context().close();
    await carol.context().close();
  });
});
