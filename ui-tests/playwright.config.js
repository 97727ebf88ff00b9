/**
 * Playwright configuration for the browser tests.
 *
 * Browsers cannot be downloaded on our machines, so the tests drive Debian's
 * Chromium (`apt-get install chromium`) instead of Playwright's own build.
 */
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

// The port of the JupyterLab server under test; set it to run two suites at once.
const port = Number(process.env.SECRETS_UI_PORT || 8888);

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
  webServer: {
    command: `jlpm start --ServerApp.port=${port}`,
    url: `http://localhost:${port}/lab`,
    timeout: 120 * 1000,
    reuseExistingServer: !process.env.CI
  }
};
