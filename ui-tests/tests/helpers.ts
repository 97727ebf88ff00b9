import { expect } from '@jupyterlab/galata';
import type { Locator, Page } from '@playwright/test';
import { createHash } from 'crypto';

/**
 * Helpers the browser tests share: the secrets API of the server a page
 * shows, and the Secrets panel found by role and accessible name.
 */

/**
 * The path of the secrets API on a server.
 */
export const API = '/jupyterlab-secrets/api';

/**
 * A secret's metadata, as the API lists it.
 */
export interface IMeta {
  id: string;
  name: string;
  project: string;
  version: number;
  shared_with: string[];
  origin: string;
  attached: boolean;
  editable: boolean;
}

/**
 * A valid secret name no other test uses.
 */
export function uniqueName(prefix: string): string {
  const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  return `${prefix}-${suffix}`;
}

/**
 * The API root of the server a page shows.
 */
export function apiOf(page: Page): string {
  return `${new URL(page.url()).origin}${API}`;
}

/**
 * Open the Secrets panel from its sidebar tab.
 */
export async function openPanel(page: Page): Promise<Locator> {
  const region = page.getByRole('region', { name: 'Secrets' });
  if (!(await region.isVisible())) {
    await page.getByRole('tab', { name: 'Secrets' }).click();
  }
  await expect(region).toBeVisible();
  return region;
}

/**
 * The secrets a page's project sees, as its server lists them.
 */
export async function listSecrets(page: Page): Promise<IMeta[]> {
  const response = await page.request.get(`${apiOf(page)}/secrets`);
  expect(response.status()).toBe(200);
  return (await response.json()).secrets;
}

/**
 * A secret created through a page's server.
 */
export async function createSecret(
  page: Page,
  name: string,
  value: string
): Promise<IMeta> {
  const response = await page.request.post(`${apiOf(page)}/secrets`, {
    data: { name, value }
  });
  expect(response.status()).toBe(201);
  return response.json();
}

/**
 * A secret's value, through a page's server.
 */
export async function reveal(page: Page, id: string): Promise<string> {
  const response = await page.request.post(
    `${apiOf(page)}/secrets/${id}/reveal`
  );
  expect(response.status()).toBe(200);
  return (await response.json()).value;
}

/**
 * What a page's server injects into its project's kernels.
 */
export async function environment(page: Page): Promise<Record<string, string>> {
  const response = await page.request.get(`${apiOf(page)}/environment`);
  expect(response.status()).toBe(200);
  return (await response.json()).environment;
}

/**
 * The listed item of a secret.
 */
export function item(scope: Locator, name: string): Locator {
  return scope.getByRole('listitem').filter({
    has: scope.page().getByRole('button', {
      name: `Options for ${name}`,
      exact: true
    })
  });
}

/**
 * Open a listed secret's menu.
 */
export async function openMenu(scope: Locator, name: string): Promise<Locator> {
  await scope
    .getByRole('button', { name: `Options for ${name}`, exact: true })
    .click();
  const menu = scope.page().getByRole('menu');
  await expect(menu).toBeVisible();
  return menu;
}

/**
 * Choose an entry of a listed secret's menu.
 */
export async function chooseFromMenu(
  scope: Locator,
  name: string,
  entry: string
): Promise<void> {
  const menu = await openMenu(scope, name);
  await menu.getByRole('menuitem', { name: entry, exact: true }).click();
}

/**
 * Python code whose output tells a kernel's secret without showing it (the
 * server hides printed values): the SHA-256 of the value, or `MISSING`.
 */
export function digestCode(name: string): string {
  return (
    `import hashlib, os; ` +
    `hashlib.sha256(os.environ['${name}'].encode()).hexdigest() ` +
    `if '${name}' in os.environ else 'MISSING'`
  );
}

/**
 * The output of `digestCode` for a kernel that holds `value`.
 */
export function digestOutput(value: string): string {
  return `'${sha256Hex(value)}'`;
}

/**
 * The SHA-256 of a text, in hexadecimal, as `sha256sum` prints it.
 */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * Write a notebook with a Python kernel and one code cell.
 */
export async function writeNotebook(
  page: Page,
  path: string,
  source: string
): Promise<void> {
  const response = await page.request.put(`/api/contents/${path}`, {
    data: {
      type: 'notebook',
      content: {
        cells: [
          {
            cell_type: 'code',
            source,
            metadata: {},
            outputs: [],
            execution_count: null
          }
        ],
        metadata: {
          kernelspec: {
            name: 'python3',
            display_name: 'Python 3 (ipykernel)',
            language: 'python'
          }
        },
        nbformat: 4,
        nbformat_minor: 5
      }
    }
  });
  expect(response.ok()).toBe(true);
}
