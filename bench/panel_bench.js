#!/usr/bin/env node
/**
 * How fast the Secrets panel lists and filters 1,000 secrets in Chromium.
 *
 * It starts its own JupyterLab on a free port with an empty store in a
 * temporary folder, creates the secrets through the REST API, then measures
 * in Debian's Chromium, driven by the Playwright of ui-tests/:
 *
 * - open: from the click on the Secrets tab to 1,000 items painted, with
 *   the filter box ready (the model listed them when JupyterLab started;
 *   showing the panel fetches the list again, in the background);
 * - page load: from the start of a page load, with the panel open, to
 *   1,000 items painted (most of it is JupyterLab starting);
 * - keystroke: from a key pressed in the filter box to the narrowed (or
 *   widened) list painted, typing `bench-secret-0123` then erasing it.
 *
 * Each figure is the median over several runs, each in a new page.
 *
 *   node bench/panel_bench.js [--secrets 1000] [--runs 5] [--port 8899]
 *
 * It runs the project's `.venv/bin/jupyter` (else the one on PATH).
 */
'use strict';

const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const { jupyterCommand } = require('../kernel-tests/commands');
const { median, quantile, ms, parseArgs } = require('./helpers');

const { chromium } = require(
  path.join(__dirname, '..', 'ui-tests', 'node_modules', '@playwright/test')
);

const options = parseArgs(process.argv.slice(2), {
  secrets: 1000,
  runs: 5,
  port: 8899,
  chromium: process.env.CHROMIUM_PATH || '/usr/bin/chromium'
});
const BASE = `http://127.0.0.1:${options.port}`;
const QUERY = 'bench-secret-0123';
const ITEM = '.jp-SecretsPanel-item';
const ITEMS = `#jp-secrets-panel ${ITEM}:not([hidden])`;

main().catch(error => {
  console.error(error);
  process.exitCode = 1;
});

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'secrets-panel-bench-'));
  const server = startServer(dir);
  try {
    await waitForServer();
    const created = await createSecrets(options.secrets);
    console.log(
      `${created} secrets created; ${options.runs} runs in ${options.chromium}`
    );
    const browser = await chromium.launch({
      executablePath: options.chromium,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run']
    });
    try {
      const runs = [];
      for (let run = 0; run < options.runs; run++) {
        const r = await measure(browser, run);
        runs.push(r);
        console.log(
          `run ${run + 1}: open ${ms(r.open)}, page load ${ms(r.reload)},` +
            ` keystroke median ${ms(median(r.keys))} (max ${ms(Math.max(...r.keys))})`
        );
      }
      const keys = runs.flatMap(r => r.keys);
      const typing = runs.flatMap(r => r.keys.slice(0, QUERY.length));
      const erasing = runs.flatMap(r => r.keys.slice(QUERY.length));
      const figures = [
        ['open the panel to the list painted', median(runs.map(r => r.open))],
        ['page load to the list painted', median(runs.map(r => r.reload))],
        ['filter keystroke to painted', median(keys)],
        ['  p90', quantile(keys, 0.9)],
        ['  typing (narrowing)', median(typing)],
        ['  erasing (widening)', median(erasing)],
        ['  erasing, worst', Math.max(...erasing)]
      ];
      console.log(`\nmedians over ${runs.length} runs, ${created} secrets:`);
      for (const [label, value] of figures) {
        console.log(`  ${label.padEnd(40)} ${ms(value)}`);
      }
    } finally {
      await browser.close();
    }
  } finally {
    server.kill('SIGTERM');
    await new Promise(resolve => server.once('exit', resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * One run in a new page: open, then reload with the panel open, then type.
 */
async function measure(browser, run) {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 }
  });
  const page = await context.newPage();
  await page.addInitScript(waitForItemsScript, ITEM);
  // A workspace of its own, so the panel starts closed.
  const workspace = `${BASE}/lab/workspaces/bench-${Date.now()}-${run}`;
  await page.goto(`${workspace}?reset`);
  const tab = page.locator('.jp-SideBar [data-id="jp-secrets-panel"]');
  await tab.waitFor();
  // Let the start settle: the model has listed the secrets by now.
  await page.waitForLoadState('networkidle');

  // Open: click the tab, wait for the items.
  await page.evaluate(() => {
    // The tab bar cancels pointerdown, so no mousedown follows it.
    document.addEventListener(
      'pointerdown',
      () => {
        window.__bench.clicked = performance.now();
      },
      { capture: true, once: true }
    );
  });
  await tab.click();
  const open = await page.evaluate(async count => {
    const painted = await window.__bench.until(count);
    return painted - window.__bench.clicked;
  }, options.secrets);
  await page
    .getByRole('region', { name: 'Secrets' })
    .getByRole('textbox', { name: 'Filter secrets' })
    .waitFor();

  // Load the page again with the panel open: the layout restores it.
  await page.waitForTimeout(1000);
  await page.goto(workspace);
  const reload = await page.evaluate(
    async count => window.__bench.until(count),
    options.secrets
  );
  await page.waitForLoadState('networkidle');

  // Type in the filter box, then erase, one key at a time.
  const filter = page
    .getByRole('region', { name: 'Secrets' })
    .getByRole('textbox', { name: 'Filter secrets' });
  await filter.click();
  await page.evaluate(() => {
    window.__bench.keys = [];
    document.addEventListener(
      'keydown',
      () => {
        const start = performance.now();
        window.__bench
          .afterPaint()
          .then(end => window.__bench.keys.push(end - start));
      },
      { capture: true }
    );
  });
  const expected = [];
  for (let i = 1; i <= QUERY.length; i++) {
    expected.push(countMatching(QUERY.slice(0, i)));
  }
  for (let i = QUERY.length - 1; i >= 0; i--) {
    expected.push(countMatching(QUERY.slice(0, i)));
  }
  const keys = [...QUERY.split(''), ...QUERY.split('').map(() => 'Backspace')];
  for (let i = 0; i < keys.length; i++) {
    // Something of JupyterLab's start may take the focus: take it back.
    await filter.evaluate(node => {
      if (node !== document.activeElement) {
        node.focus();
        node.setSelectionRange(node.value.length, node.value.length);
      }
    });
    await page.keyboard.press(keys[i]);
    await page.waitForFunction(n => window.__bench.keys.length === n, i + 1);
    const listed = await page.locator(ITEMS).count();
    if (listed !== expected[i]) {
      throw new Error(
        `after key ${i + 1}, ${listed} items are listed, not ${expected[i]}`
      );
    }
  }
  const timings = await page.evaluate(() => window.__bench.keys);
  await context.close();
  return { open, reload, keys: timings };
}

/**
 * Installed in every page before its scripts: waits for items to be painted.
 */
function waitForItemsScript(selector) {
  const afterPaint = () =>
    new Promise(resolve =>
      requestAnimationFrame(() => setTimeout(() => resolve(performance.now())))
    );
  window.__bench = {
    afterPaint,
    /**
     * Resolves with the time the panel first showed `count` items, painted.
     */
    until(count) {
      return new Promise(resolve => {
        const check = () => {
          const panel = document.getElementById('jp-secrets-panel');
          if (
            panel &&
            !panel.classList.contains('lm-mod-hidden') &&
            panel.querySelectorAll(selector).length >= count &&
            panel.querySelector('input[aria-label]')
          ) {
            afterPaint().then(resolve);
            return true;
          }
          return false;
        };
        if (!check()) {
          const observer = new MutationObserver(() => {
            if (check()) {
              observer.disconnect();
            }
          });
          observer.observe(document, {
            subtree: true,
            childList: true,
            attributes: true,
            attributeFilter: ['class']
          });
        }
      });
    }
  };
}

/**
 * How many of the bench's secret names contain the text, as the filter sees it.
 */
function countMatching(text) {
  let count = 0;
  for (let i = 1; i <= options.secrets; i++) {
    if (secretName(i).includes(text.toLowerCase())) {
      count++;
    }
  }
  return count;
}

function secretName(i) {
  return `bench-secret-${String(i).padStart(4, '0')}`;
}

async function createSecrets(count) {
  let next = 1;
  let created = 0;
  const worker = async () => {
    while (next <= count) {
      const i = next++;
      const response = await fetch(`${BASE}/jupyterlab-secrets/api/secrets`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          name: secretName(i),
          value: `value-${i}-${Math.random().toString(36).slice(2)}`
        })
      });
      if (response.status !== 201) {
        throw new Error(
          `create ${i}: ${response.status} ${await response.text()}`
        );
      }
      created++;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return created;
}

function startServer(dir) {
  const root = path.join(dir, 'root');
  fs.mkdirSync(root);
  const args = [
    'lab',
    '--no-browser',
    `--ServerApp.port=${options.port}`,
    '--ServerApp.port_retries=0',
    '--ServerApp.ip=127.0.0.1',
    `--ServerApp.root_dir=${root}`,
    '--IdentityProvider.token=',
    '--ServerApp.password=',
    '--ServerApp.disable_check_xsrf=True',
    `--LabApp.workspaces_dir=${path.join(dir, 'workspaces')}`,
    `--SecretsExtension.db_url=sqlite:///${path.join(dir, 'secrets.db')}`,
    `--SecretsExtension.key_file=${path.join(dir, 'key')}`
  ];
  if (process.getuid && process.getuid() === 0) {
    args.push('--allow-root');
  }
  const server = spawn(jupyterCommand('jupyter'), args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, JUPYTER_CONFIG_DIR: path.join(dir, 'config') }
  });
  let log = '';
  server.stderr.on('data', chunk => {
    log = (log + chunk).slice(-4000);
  });
  server.once('exit', code => {
    if (code) {
      console.error(log);
    }
  });
  return server;
}

async function waitForServer() {
  for (let i = 0; i < 120; i++) {
    try {
      const response = await fetch(`${BASE}/jupyterlab-secrets/api/secrets`);
      if (response.ok) {
        return;
      }
    } catch {
      // Not up yet.
    }
    await new Promise(resolve => setTimeout(resolve, 500));
  }
  throw new Error(`JupyterLab did not start on ${BASE}`);
}
