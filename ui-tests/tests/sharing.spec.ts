import { expect } from '@jupyterlab/galata';
import type { Locator, Page } from '@playwright/test';

import {
  apiOf,
  chooseFromMenu,
  createSecret,
  environment,
  item,
  listSecrets,
  openMenu,
  openPanel,
  reveal,
  uniqueName
} from './helpers';
import { test } from './peer';

/**
 * Sharing a secret with a community, across two real servers that share
 * one store: project `proj-a`, used by `alice`, an admin of `ml-team`, and
 * project `proj-b`, used by `bob`, who administers nothing. The `page`
 * fixture is alice's; each test opens bob's JupyterLab beside it.
 */

/**
 * How long a change made on one server may take to show on the other: the
 * panel fetches its list every 3 seconds.
 */
const LIVE_TIMEOUT = 10 * 1000;

/**
 * Share a secret through a page's server.
 */
async function setAccess(
  page: Page,
  id: string,
  communities: string[]
): Promise<void> {
  const response = await page.request.put(
    `${apiOf(page)}/secrets/${id}/access`,
    { data: { communities } }
  );
  expect(response.status()).toBe(200);
}

/**
 * The section of secrets shared with the project.
 */
function sharedSection(region: Locator): Locator {
  return region.getByRole('region', { name: 'Shared with project' });
}

test.describe('Sharing with a community', () => {
  test('alice shares a secret; bob sees it live, clones it and adds it', async ({
    page,
    bob
  }) => {
    const name = uniqueName('team-token');
    const value = `team-value-${name}\nsecond line`;

    // Given bob's panel on proj-b, which does not list the secret yet
    const bobRegion = await openPanel(bob);
    await expect(item(bobRegion, name)).toHaveCount(0);

    // And alice's secret on proj-a, created in her panel
    const region = await openPanel(page);
    await region.getByRole('button', { name: 'Create', exact: true }).click();
    await region.getByRole('textbox', { name: 'Name' }).fill(name);
    await region.getByRole('textbox', { name: 'Content' }).fill(value);
    await region.getByRole('button', { name: 'Create', exact: true }).click();
    await expect(item(region, name)).toBeVisible();

    // When alice turns on ml-team in the Access view, from the keyboard
    await chooseFromMenu(region, name, 'Access');
    const dialog = page.getByRole('dialog');
    await expect(dialog).toContainText(`Access to "${name}"`);
    const mlTeam = dialog.getByRole('switch', { name: 'ml-team', exact: true });
    await expect(mlTeam).toHaveAttribute('aria-checked', 'false');
    await expect(mlTeam).toBeEnabled();
    await expect(mlTeam).toBeFocused();
    await expect(mlTeam).toHaveAccessibleDescription(
      'Not shared. Turn it on to let project proj-b use it.'
    );
    await page.keyboard.press('Space');

    // Then the switch is on, the server agrees, and the item says so
    await expect(mlTeam).toHaveAttribute('aria-checked', 'true');
    await expect(mlTeam).toHaveAccessibleDescription(
      'Project proj-b can use it.'
    );
    const shared = (await listSecrets(page)).find(s => s.name === name)!;
    expect(shared.shared_with).toEqual(['ml-team']);
    await page.keyboard.press('Escape');
    await expect(dialog).toHaveCount(0);
    await expect(item(region, name)).toContainText('Shared with ml-team');

    // And bob's panel lists it under Shared with project, without a reload
    const section = sharedSection(bobRegion);
    const bobItem = item(section, name);
    await expect(bobItem).toBeVisible({ timeout: LIVE_TIMEOUT });
    await expect(bobItem).toContainText('***');
    await expect(bobItem).toContainText(
      'Not added to project · from project proj-a, read-only'
    );

    // And there Edit, Delete and Access are disabled, with the reason
    const menu = await openMenu(section, name);
    const reason =
      'Shared by project proj-a: read-only here. Clone it to edit a copy.';
    for (const entry of ['Edit', 'Delete']) {
      const entryItem = menu.getByRole('menuitem', {
        name: entry,
        exact: true
      });
      await expect(entryItem).toBeDisabled();
      await expect(entryItem).toHaveAttribute('title', reason);
    }
    await expect(
      menu.getByRole('menuitem', { name: 'Access', exact: true })
    ).toBeDisabled();
    await expect(
      menu.getByRole('menuitem', { name: 'Clone', exact: true })
    ).toBeEnabled();
    await bob.keyboard.press('Escape');

    // When bob adds it to proj-b
    await chooseFromMenu(section, name, 'Add to project');

    // Then it is added, and proj-b's kernels get it
    await expect(bobItem).toContainText('Added to project ·');
    expect((await environment(bob))[name]).toBe(value);
    expect((await environment(page))[name]).toBe(value);

    // When bob clones it
    await chooseFromMenu(section, name, 'Clone');
    const nameBox = bobRegion.getByRole('textbox', { name: 'Name' });
    const content = bobRegion.getByRole('textbox', { name: 'Content' });
    await expect(nameBox).toHaveValue(`${name}-copy`);
    // The stored value is not fetched: left empty, the copy keeps it
    await expect(content).toHaveValue('');
    await bobRegion
      .getByRole('button', { name: 'Create', exact: true })
      .click();

    // Then proj-b has its own, editable copy with the same value
    const ownList = bobRegion.getByRole('list', {
      name: 'Secrets of this project'
    });
    await expect(item(ownList, `${name}-copy`)).toBeVisible();
    const copy = (await listSecrets(bob)).find(s => s.name === `${name}-copy`)!;
    expect(copy.project).toBe('proj-b');
    expect(copy.editable).toBe(true);
    expect(copy.id).not.toBe(shared.id);
    expect(await reveal(bob, copy.id)).toBe(value);
    const copyMenu = await openMenu(ownList, `${name}-copy`);
    await expect(
      copyMenu.getByRole('menuitem', { name: 'Edit', exact: true })
    ).toBeEnabled();
    await bob.keyboard.press('Escape');

    // When bob removes the shared one from proj-b, its kernels lose it
    await chooseFromMenu(section, name, 'Remove from project');
    await expect(bobItem).toContainText('Not added to project');
    expect((await environment(bob))[name]).toBeUndefined();
  });

  test('bob cannot share his own secret, and is told why', async ({
    page,
    bob
  }) => {
    const name = uniqueName('bob-key');
    await createSecret(bob, name, 'bob value');
    const region = await openPanel(bob);
    await expect(item(region, name)).toBeVisible();
    let puts = 0;
    await bob.route(
      /\/jupyterlab-secrets\/api\/secrets\/[^/]+\/access(\?.*)?$/,
      route => {
        puts++;
        return route.continue();
      }
    );

    // When bob opens Access on his own secret
    await chooseFromMenu(region, name, 'Access');
    const dialog = bob.getByRole('dialog');
    const mlTeam = dialog.getByRole('switch', { name: 'ml-team', exact: true });

    // Then the ml-team switch is off and disabled, and the view says why
    await expect(mlTeam).toHaveAttribute('aria-checked', 'false');
    await expect(mlTeam).toBeDisabled();
    await expect(mlTeam).toHaveAccessibleDescription(
      'Only an admin of ml-team can share with it.'
    );
    await expect(dialog).toContainText(
      'Only an admin of ml-team can share with it.'
    );
    await expect(dialog).toContainText(
      'You are not an admin of any community of project proj-b'
    );

    // And it cannot be turned: not from the keyboard, which never reaches
    // it, as any disabled control, nor by a click
    await mlTeam.focus();
    await expect(mlTeam).not.toBeFocused();
    await mlTeam.click({ force: true });
    await expect(mlTeam).toHaveAttribute('aria-checked', 'false');
    expect(puts).toBe(0);
    await dialog.getByRole('button', { name: 'Close', exact: true }).click();
    await expect(dialog).toHaveCount(0);
    const meta = (await listSecrets(bob)).find(s => s.name === name)!;
    expect(meta.shared_with).toEqual([]);

    // And alice on proj-a never sees it
    expect(
      (await listSecrets(page)).find(s => s.name === name)
    ).toBeUndefined();
  });

  test('a refused change shows the server message and the switch returns', async ({
    bob
  }) => {
    const name = uniqueName('refused-key');
    await createSecret(bob, name, 'v');
    // The page is told bob is an admin; his server knows better.
    await bob.route(
      /\/jupyterlab-secrets\/api\/communities(\?.*)?$/,
      async route => {
        const response = await route.fetch();
        const body = await response.json();
        for (const community of body.communities) {
          community.is_admin = true;
        }
        await route.fulfill({ response, json: body });
      }
    );
    const region = await openPanel(bob);

    await chooseFromMenu(region, name, 'Access');
    const dialog = bob.getByRole('dialog');
    const mlTeam = dialog.getByRole('switch', { name: 'ml-team', exact: true });
    await expect(mlTeam).toBeEnabled();
    await mlTeam.click();

    await expect(dialog.getByRole('alert')).toHaveText(
      "Only an admin of community 'ml-team' can change sharing with it."
    );
    await expect(mlTeam).toHaveAttribute('aria-checked', 'false');
    const meta = (await listSecrets(bob)).find(s => s.name === name)!;
    expect(meta.shared_with).toEqual([]);
    await bob.keyboard.press('Escape');
    await expect(dialog).toHaveCount(0);
  });

  test('changes and unsharing on proj-a reach bob live', async ({
    page,
    bob
  }) => {
    const name = uniqueName('live-key');
    const renamed = uniqueName('live-key-renamed');
    const created = await createSecret(page, name, 'v1');
    await setAccess(page, created.id, ['ml-team']);

    const region = await openPanel(bob);
    const section = sharedSection(region);
    await expect(item(section, name)).toBeVisible({ timeout: LIVE_TIMEOUT });

    // When alice renames it, bob's list follows
    const patched = await page.request.patch(
      `${apiOf(page)}/secrets/${created.id}`,
      { data: { version: created.version, name: renamed } }
    );
    expect(patched.status()).toBe(200);
    await expect(item(section, renamed)).toBeVisible({
      timeout: LIVE_TIMEOUT
    });
    await expect(item(section, name)).toHaveCount(0);

    // When alice unshares it in the Access view, it leaves bob's list
    const aliceRegion = await openPanel(page);
    await chooseFromMenu(aliceRegion, renamed, 'Access');
    const dialog = page.getByRole('dialog');
    const mlTeam = dialog.getByRole('switch', { name: 'ml-team', exact: true });
    await expect(mlTeam).toHaveAttribute('aria-checked', 'true');
    await mlTeam.click();
    await expect(mlTeam).toHaveAttribute('aria-checked', 'false');
    await page.keyboard.press('Escape');
    await expect(item(region, renamed)).toHaveCount(0, {
      timeout: LIVE_TIMEOUT
    });
  });

  test("proj-b's own secret wins a name clash, and the panel says so", async ({
    page,
    bob
  }) => {
    const name = uniqueName('clash-key');
    const created = await createSecret(page, name, 'from proj-a');
    await setAccess(page, created.id, ['ml-team']);
    await createSecret(bob, name, 'from proj-b');

    const region = await openPanel(bob);
    const sharedItem = item(sharedSection(region), name);
    await expect(sharedItem).toBeVisible();
    await expect(sharedItem).toContainText(
      "This project's own secret of the same name wins"
    );

    await chooseFromMenu(sharedSection(region), name, 'Add to project');
    await expect(sharedItem).toContainText('Added to project ·');
    expect((await environment(bob))[name]).toBe('from proj-b');
  });

  test('looks right in the dark theme', async ({ page, bob }, testInfo) => {
    const name = uniqueName('dark-shared');
    const created = await createSecret(page, name, 'v');
    await setAccess(page, created.id, ['ml-team']);
    await createSecret(bob, name, 'own');

    await bob.theme.setDarkTheme();
    const region = await openPanel(bob);
    await expect(item(sharedSection(region), name)).toBeVisible();
    await region.screenshot({ path: testInfo.outputPath('shared-dark.png') });
    await chooseFromMenu(
      region.getByRole('list', { name: 'Secrets of this project' }),
      name,
      'Access'
    );
    const dialog = bob.getByRole('dialog');
    await expect(dialog.getByRole('switch')).toHaveCount(1);
    await dialog.screenshot({ path: testInfo.outputPath('access-dark.png') });

    await page.theme.setDarkTheme();
    const aliceRegion = await openPanel(page);
    await chooseFromMenu(aliceRegion, name, 'Access');
    const aliceDialog = page.getByRole('dialog');
    await expect(aliceDialog.getByRole('switch')).toHaveAttribute(
      'aria-checked',
      'true'
    );
    await aliceDialog.screenshot({
      path: testInfo.outputPath('access-admin-dark.png')
    });
    await expect(aliceRegion).toHaveCSS('background-color', /rgb\((\d{1,2}), /);
  });
});
