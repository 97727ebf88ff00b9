import { expect } from '@jupyterlab/galata';
import type { Locator } from '@playwright/test';

import {
  chooseFromMenu,
  item,
  listSecrets,
  openMenu,
  openPanel,
  uniqueName
} from './helpers';
import { test } from './peer';

/**
 * Sharing a secret on OpenBao, across two real servers that each hold
 * their own token: alice's server on proj-a (policies project proj-a,
 * member and admin of ml-team) and bob's on proj-b (project proj-b and
 * member of ml-team only). OpenBao's policies, not the servers, decide that
 * alice may share with ml-team and bob may not. The `page` fixture is
 * alice's; `bob` is bob's JupyterLab beside it.
 */

/**
 * How long a change made on one server may take to show on the other: the
 * panel fetches its list every 3 seconds.
 */
const LIVE_TIMEOUT = 10 * 1000;

/**
 * The section of secrets shared with the project.
 */
function sharedSection(region: Locator): Locator {
  return region.getByRole('region', { name: 'Shared with project' });
}

test.describe('Sharing on OpenBao, one token per server', () => {
  test.skip(
    !!process.env.SECRETS_UI_OPENBAO_MISSING,
    process.env.SECRETS_UI_OPENBAO_MISSING
  );

  test('alice shares a secret with ml-team; bob reads it and cannot share', async ({
    page,
    bob
  }) => {
    const name = uniqueName('bao-token');
    const value = `bao-value-${name}`;

    // Given alice's secret on proj-a, created in her panel
    const region = await openPanel(page);
    await region.getByRole('button', { name: 'Create', exact: true }).click();
    await region.getByRole('textbox', { name: 'Name' }).fill(name);
    await region.getByRole('textbox', { name: 'Content' }).fill(value);
    await region.getByRole('button', { name: 'Create', exact: true }).click();
    await expect(item(region, name)).toBeVisible();

    // When alice turns on ml-team in its Access view
    await chooseFromMenu(region, name, 'Access');
    const dialog = page.getByRole('dialog');
    await expect(dialog).toContainText(`Access to "${name}"`);
    const mlTeam = dialog.getByRole('switch', { name: 'ml-team', exact: true });
    await expect(mlTeam).toHaveAttribute('aria-checked', 'false');
    await expect(mlTeam).toBeEnabled();
    await mlTeam.click();

    // Then the switch is on, and her server (and OpenBao) agree
    await expect(mlTeam).toHaveAttribute('aria-checked', 'true');
    await expect(mlTeam).toHaveAccessibleDescription(
      'Project proj-b can use it.'
    );
    const shared = (await listSecrets(page)).find(s => s.name === name)!;
    expect(shared.shared_with).toEqual(['ml-team']);
    await page.keyboard.press('Escape');
    await expect(dialog).toHaveCount(0);
    await expect(item(region, name)).toContainText('Shared with ml-team');

    // And bob's panel lists it under Shared with project, read-only
    const bobRegion = await openPanel(bob);
    const section = sharedSection(bobRegion);
    const bobItem = item(section, name);
    await expect(bobItem).toBeVisible({ timeout: LIVE_TIMEOUT });
    await expect(bobItem).toContainText('***');
    await expect(bobItem).toContainText(
      'Not added to project · from project proj-a, read-only'
    );
    const menu = await openMenu(section, name);
    for (const entry of ['Edit', 'Delete', 'Access']) {
      await expect(
        menu.getByRole('menuitem', { name: entry, exact: true })
      ).toBeDisabled();
    }
    await bob.keyboard.press('Escape');
    const seen = (await listSecrets(bob)).find(s => s.name === name)!;
    expect(seen.project).toBe('proj-a');
    expect(seen.editable).toBe(false);

    // When bob opens Access on a secret of his own
    const own = uniqueName('bob-bao-key');
    await bobRegion
      .getByRole('button', { name: 'Create', exact: true })
      .click();
    await bobRegion.getByRole('textbox', { name: 'Name' }).fill(own);
    await bobRegion.getByRole('textbox', { name: 'Content' }).fill('bob value');
    await bobRegion
      .getByRole('button', { name: 'Create', exact: true })
      .click();
    const ownList = bobRegion.getByRole('list', {
      name: 'Secrets of this project'
    });
    await expect(item(ownList, own)).toBeVisible();
    await chooseFromMenu(ownList, own, 'Access');

    // Then ml-team is off and disabled: his token lacks the admin policy
    const bobDialog = bob.getByRole('dialog');
    const bobSwitch = bobDialog.getByRole('switch', {
      name: 'ml-team',
      exact: true
    });
    await expect(bobSwitch).toHaveAttribute('aria-checked', 'false');
    await expect(bobSwitch).toBeDisabled();
    await expect(bobSwitch).toHaveAccessibleDescription(
      'Only an admin of ml-team can share with it.'
    );
    await bobSwitch.click({ force: true });
    await expect(bobSwitch).toHaveAttribute('aria-checked', 'false');
    await bobDialog.getByRole('button', { name: 'Close', exact: true }).click();
    await expect(bobDialog).toHaveCount(0);
    const mine = (await listSecrets(bob)).find(s => s.name === own)!;
    expect(mine.shared_with).toEqual([]);

    // And alice on proj-a never sees bob's secret
    expect((await listSecrets(page)).find(s => s.name === own)).toBeUndefined();
  });
});
