import {
  expect,
  galata,
  IJupyterLabPageFixture,
  test as base
} from '@jupyterlab/galata';

/**
 * The fixtures of the sharing suites: the `page` fixture is alice's
 * JupyterLab on project `proj-a`; `bob` is bob's on project `proj-b`, a
 * second server of the same store and community.
 */
export const test = base.extend<{
  peerURL: string;
  bob: IJupyterLabPageFixture;
}>({
  // The server of proj-b; the `sharing` project of the configuration sets it.
  peerURL: ['http://localhost:8989', { option: true }],
  bob: async (
    { browser, peerURL, request, tmpPath, waitForApplication },
    use
  ) => {
    // JupyterLab opens in a folder of the test, as the `page` fixture does.
    const folder = `${peerURL}/api/contents/${encodeURIComponent(tmpPath)}`;
    expect(
      (await request.put(folder, { data: { type: 'directory' } })).ok()
    ).toBe(true);
    const { page } = await galata.newPage({
      baseURL: peerURL,
      browser,
      tmpPath,
      waitForApplication
    });
    await use(page);
    await page.context().close();
    await request.delete(folder);
  }
});
