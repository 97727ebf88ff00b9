import { expect } from '@jupyterlab/galata';

import { apiOf, createSecret, uniqueName } from './helpers';
import { test } from './peer';

/**
 * A secret shared from another server reaches this project's running
 * kernels, and leaves them, without a reload: the injector polls the
 * environment with If-None-Match every 3 seconds.
 */

/**
 * How long a change made on one server may take to reach a kernel of the
 * other: one poll interval and an injection, with room for a loaded machine.
 */
const LIVE_TIMEOUT = 15 * 1000;

test('a shared secret edited and unshared on its server follows into running kernels of the other', async ({
  page,
  bob
}) => {
  const name = uniqueName('team-key');
  const first = `first value of ${name}`;
  const edited = `edited value of ${name}`;

  // Given alice's secret shared with ml-team, and added to proj-b by bob
  const secret = await createSecret(page, name, first);
  const shared = await page.request.put(
    `${apiOf(page)}/secrets/${secret.id}/access`,
    { data: { communities: ['ml-team'] } }
  );
  expect(shared.status()).toBe(200);
  const attached = await bob.request.put(
    `${apiOf(bob)}/secrets/${secret.id}/attachment`
  );
  expect(attached.status()).toBe(200);

  // And a notebook of bob's whose kernel reads it
  await bob.notebook.createNew('team.ipynb', { kernel: 'python3' });
  await bob.notebook.setCell(
    0,
    'code',
    `import os; os.environ.get('${name}', 'absent')`
  );
  const readInKernel = async (): Promise<string> => {
    await bob.notebook.runCell(0);
    return ((await bob.notebook.getCellTextOutput(0)) ?? []).join('');
  };
  await expect.poll(readInKernel, { timeout: LIVE_TIMEOUT }).toBe(`'${first}'`);

  // When alice edits it on her server
  const patched = await page.request.patch(
    `${apiOf(page)}/secrets/${secret.id}`,
    { data: { version: secret.version, value: edited } }
  );
  expect(patched.status()).toBe(200);

  // Then bob's running kernel gets the new value, with no reload
  await expect
    .poll(readInKernel, { timeout: LIVE_TIMEOUT })
    .toBe(`'${edited}'`);

  // When alice unshares it
  const unshared = await page.request.put(
    `${apiOf(page)}/secrets/${secret.id}/access`,
    { data: { communities: [] } }
  );
  expect(unshared.status()).toBe(200);

  // Then bob's running kernel loses it
  await expect.poll(readInKernel, { timeout: LIVE_TIMEOUT }).toBe(`'absent'`);
});
