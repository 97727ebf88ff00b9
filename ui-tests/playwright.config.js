/**
 * Playwright configuration for the browser tests.
 *
 * Browsers cannot be downloaded on our machines, so the tests drive Debian's
 * Chromium (`apt-get install chromium`) instead of Playwright's own build.
 *
 * Two projects run:
 * - `default`: every suite but sharing, against one server (project
 *   `default`, no communities);
 * - `sharing`: `sharing.spec.ts`, against two servers of the community
 *   `ml-team` that share one store and one key: project `proj-a` used by
 *   `alice`, its admin, and project `proj-b` used by `bob`;
 * - `notebook`: `notebook7.spec.ts`, against `jupyter notebook` (Notebook 7),
 *   with a store of its own.
 */
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

// The port of the JupyterLab server under test; set it to run two suites at once.
const port = Number(process.env.SECRETS_UI_PORT || 8888);
// The sharing servers listen apart from the ports of other runs' main server.
const sharingPort = Number(process.env.SECRETS_UI_SHARING_PORT || port + 100);
const peerPort = sharingPort + 1;
// The Notebook 7 server.
const notebookPort = Number(
  process.env.SECRETS_UI_NOTEBOOK_PORT || sharingPort + 2
);

// Made once by the runner; its workers inherit them.
if (!process.env.SECRETS_UI_SHARING_STORE) {
  process.env.SECRETS_UI_SHARING_STORE = fs.mkdtempSync(
    path.join(os.tmpdir(), 'secrets-ui-sharing-')
  );
}
if (!process.env.SECRETS_UI_SHARING_KEY) {
  process.env.SECRETS_UI_SHARING_KEY = crypto
    .randomBytes(32)
    .toString('base64');
}

/**
 * A server of the sharing pair.
 */
function sharingServer(serverPort, project, user) {
  return {
    command: `jupyter lab --config sharing/jupyter_server_test_config.py --ServerApp.port=${serverPort}`,
    url: `http://localhost:${serverPort}/lab`,
    timeout: 120 * 1000,
    reuseExistingServer: !process.env.CI,
    env: {
      SECRETS_UI_PROJECT: project,
      SECRETS_UI_USER: user,
      SECRETS_UI_STORE: process.env.SECRETS_UI_SHARING_STORE,
      JUPYTERLAB_SECRETS_KEY: process.env.SECRETS_UI_SHARING_KEY
    }
  };
}

module.exports = {
  ...baseConfig,
  reporter: [['list'], ['html', { open: 'never' }]],
  retries: 0,
  workers: 1,
  use: {
    ...baseConfig.use,
    baseURL: `http://localhost:${port}`,
    trace: 'retain-on-failure',
    video: 'off',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run'
      ]
    }
  },
  projects: [
    {
      name: 'default',
      testIgnore: /(sharing|notebook7)\.spec\.ts$/
    },
    {
      name: 'sharing',
      testMatch: /sharing\.spec\.ts$/,
      use: {
        baseURL: `http://localhost:${sharingPort}`,
        peerURL: `http://localhost:${peerPort}`
      }
    },
    {
      name: 'notebook',
      testMatch: /notebook7\.spec\.ts$/,
      use: { baseURL: `http://localhost:${notebookPort}` }
    }
  ],
  webServer: [
    {
      command: `jlpm start --ServerApp.port=${port}`,
      url: `http://localhost:${port}/lab`,
      timeout: 120 * 1000,
      reuseExistingServer: !process.env.CI
    },
    sharingServer(sharingPort, 'proj-a', 'alice'),
    sharingServer(peerPort, 'proj-b', 'bob'),
    {
      command: `jupyter notebook --config notebook/jupyter_server_test_config.py --ServerApp.port=${notebookPort}`,
      url: `http://localhost:${notebookPort}/tree`,
      timeout: 120 * 1000,
      reuseExistingServer: !process.env.CI
    }
  ]
};
