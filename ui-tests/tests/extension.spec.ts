import { expect, test } from '@jupyterlab/galata';

test.describe('jupyterlab-secrets loads', () => {
  test('the Secrets tab opens the Secrets region', async ({ page }) => {
    // Given JupyterLab with the extension installed
    // When the user clicks the sidebar tab captioned "Secrets"
    const tab = page.getByRole('tab', { name: 'Secrets' });
    await expect(tab).toBeVisible();
    await tab.click();

    // Then the Secrets region is shown
    await expect(page.getByRole('region', { name: 'Secrets' })).toBeVisible();
  });

  test('the secrets API answers with the project', async ({ page }) => {
    // Given a running server with the extension
    // When the page asks the API for the list of secrets
    const response = await page.request.get('/jupyterlab-secrets/api/secrets');

    // Then it answers with the default project and a list
    expect(response.status()).toBe(200);
    const body = await response.json();
    expect(body.project).toBe('default');
    expect(Array.isArray(body.secrets)).toBe(true);
  });
});
