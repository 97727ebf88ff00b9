#!/usr/bin/env node
/**
 * What open JupyterLab tabs cost the server, how soon JupyterLab shows its
 * shell, and how soon a new notebook's first cell replies: each with the
 * extension and beside a baseline without it, all measured in one run.
 *
 * It starts two JupyterLabs of its own on free ports, in a temporary folder:
 * one with the extension (server and frontend), one with both disabled (the
 * server extension off in `jpserver_extensions`, the frontend listed in
 * `labconfig/page_config.json`'s `disabledExtensions`). Runs alternate between
 * them, so both see the same load on the machine. Debian's Chromium is driven
 * by Playwright.
 *
 * - Request rate: 1 and then 10 idle tabs, each with the Secrets panel open
 *   (with the extension) and one new notebook with a running kernel. After
 *   `--settle` seconds without input (longer than the minute after which the
 *   extension counts a tab idle), the HTTP requests the tabs send in
 *   `--window` seconds are counted in the browser (`page.on('request')`), in
 *   total and to `jupyterlab-secrets/api/*`, and given per minute.
 * - Shell: from the start of a page load (a new browser context, an empty
 *   workspace) to `#jp-main-dock-panel` and the Launcher painted, and to
 *   `jupyterapp.started` resolved; the median of `--runs` loads.
 * - First cell: a new notebook is opened in JupyterLab (`notebook:create-new`);
 *   once its kernel is idle and connected, the first cell, which reads the
 *   environment, is run as a user runs it (`notebook:run-cell`), and the time to
 *   its reply is measured; also the time from the command to the kernel ready.
 *   With 100 and then 1,000 secrets in the store; the median of `--runs`, their
 *   mean and the fastest, since jupyter_server's 0.5 s retries make the
 *   times of single runs jump (see below).
 *
 *   node bench/tabs_bench.js [--runs 5] [--window 60] [--settle 75] [--tabs 10]
 *                            [--parts shell,cell,tabs]
 *
 * It runs the project's `.venv/bin/jupyter` (else the one on PATH).
 */
'use strict';

const { spawn } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

const { jupyterCommand } = require('../kernel-tests/commands');
const { chromiumDriver, median, ms, parseArgs } = require('./helpers');

const options = parseArgs(process.argv.slice(2), {
  runs: 5,
  window: 60,
  settle: 75,
  tabs: 10,
  parts: 'shell,cell,tabs',
  chromium: process.env.CHROMIUM_PATH || '/usr/bin/chromium'
});
const FIRST_CELL = 'import os; print(len(os.environ))';
const PARTS = new Set(options.parts.split(','));
const API = '/jupyterlab-secrets/api/';

// Stopped early (Ctrl+C, a timeout): stop the servers and their kernels too.
const children = new Set();
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const child of children) {
      child.kill('SIGTERM');
    }
    process.exit(130);
  });
}

main().catch(error => {
  console.error(error);
  process.exitCode = 1;
});

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'secrets-tabs-bench-'));
  const servers = [];
  let browser;
  try {
    const lab = await startServer(dir, 'extension', true);
    servers.push(lab);
    const base = await startServer(dir, 'baseline', false);
    servers.push(base);
    await Promise.all(servers.map(waitForServer));
    await createSecrets(lab, 1, 100);
    browser = await chromiumDriver().launch({
      executablePath: options.chromium,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run']
    });
    console.log(
      `${options.runs} runs, ${options.settle} s to settle, ${options.window} s` +
        ` windows, in ${options.chromium}`
    );
    const results = [];
    const report = (label, withExt, without, format = ms) => {
      results.push([label, withExt, without, format]);
      const ratio = without ? ` (${(withExt / without).toFixed(2)}×)` : '';
      console.log(
        `  ${label.padEnd(44)} ${format(withExt).padStart(14)}` +
          `  baseline ${format(without).padStart(14)}${ratio}`
      );
    };

    const shells = { true: [], false: [] };
    for (let run = 0; PARTS.has('shell') && run < options.runs; run++) {
      for (const server of [lab, base]) {
        shells[server.extension].push(await shellTime(browser, server, run));
      }
    }
    if (PARTS.has('shell')) {
      console.log('\nShell shown (page load to ...), median:');
    }
    for (const key of PARTS.has('shell')
      ? ['dock', 'launcher', 'started']
      : []) {
      report(
        key === 'dock'
          ? '#jp-main-dock-panel painted'
          : key === 'launcher'
            ? 'Launcher painted'
            : 'jupyterapp.started resolved',
        median(shells.true.map(r => r[key])),
        median(shells.false.map(r => r[key]))
      );
    }

    for (const size of PARTS.has('cell') ? [100, 1000] : []) {
      if (size > 100) {
        await createSecrets(lab, 101, size);
      }
      console.log(`\nFirst cell of a new notebook, ${size} secrets, median:`);
      const cells = { true: [], false: [] };
      for (let run = 0; run < options.runs; run++) {
        for (const server of [lab, base]) {
          cells[server.extension].push(await firstCell(browser, server));
        }
      }
      const env = side => Math.min(...cells[side].map(r => r.environ));
      console.log(
        `  (the first cell saw ${env(true)} variables with the extension,` +
          ` ${env(false)} without)`
      );
      report(
        'kernel ready to first reply',
        median(cells.true.map(r => r.reply)),
        median(cells.false.map(r => r.reply))
      );
      report(
        'notebook:create-new to kernel ready',
        median(cells.true.map(r => r.ready)),
        median(cells.false.map(r => r.ready))
      );
      report(
        'notebook:create-new to first reply',
        median(cells.true.map(r => r.ready + r.reply)),
        median(cells.false.map(r => r.ready + r.reply))
      );
      const total = side => cells[side].map(r => r.ready + r.reply);
      report(
        'same, mean',
        total(true).reduce((a, b) => a + b) / options.runs,
        total(false).reduce((a, b) => a + b) / options.runs
      );
      report(
        'same, fastest run',
        Math.min(...total(true)),
        Math.min(...total(false))
      );
      // jupyter_server's kernel websocket asks the kernel for its info again
      // every 0.5 s until the kernel's IOPub answers (its "nudge"): a run
      // that misses the first try is about 0.5 s slower, with or without the
      // extension, which makes medians of few runs jump.
      const fastest = Math.min(...total(true), ...total(false));
      const slowed = side =>
        total(side).filter(value => value > fastest + 300).length;
      console.log(
        `  (runs 0.3 s or more above the fastest: ${slowed(true)} of ` +
          `${options.runs} with the extension, ${slowed(false)} without)`
      );
    }

    const perMinute = value => `${value.toFixed(1)}/min`;
    for (const count of PARTS.has('tabs') ? [1, options.tabs] : []) {
      console.log(`\nRequests with ${count} idle tab(s), per minute:`);
      const rates = {};
      for (const server of [lab, base]) {
        rates[server.extension] = await requestRate(browser, server, count);
      }
      console.log(
        `  (the tabs' document.visibilityState: ${rates.true.visibility})`
      );
      report(
        'to the server, all',
        rates.true.total,
        rates.false.total,
        perMinute
      );
      report(`to ${API}*`, rates.true.api, rates.false.api, perMinute);
      for (const side of [true, false]) {
        const top = Object.entries(rates[side].paths)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 5)
          .map(([p, n]) => `${p} ${perMinute(n)}`)
          .join(', ');
        console.log(
          `    ${side ? 'extension' : 'baseline '}: ${top || 'none'}`
        );
      }
    }
  } finally {
    if (browser) {
      await browser.close();
    }
    for (const server of servers) {
      await server.stop();
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * One page load in a new context: when the shell, the Launcher and
 * `jupyterapp.started` were there, in ms from the start of navigation.
 */
async function shellTime(browser, server, run) {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 }
  });
  const page = await context.newPage();
  await page.addInitScript(shellProbe);
  await page.goto(
    `${server.url}/lab/workspaces/shell-${Date.now()}-${run}?reset`
  );
  const times = await page.evaluate(() => window.__bench.done);
  await context.close();
  return times;
}

/**
 * Installed in every page before its scripts: records when the shell shows.
 */
function shellProbe() {
  const painted = () =>
    new Promise(resolve =>
      requestAnimationFrame(() => setTimeout(() => resolve(performance.now())))
    );
  const visible = selector => {
    const node = document.querySelector(selector);
    return node && node.offsetParent !== null;
  };
  const when = selector =>
    new Promise(resolve => {
      const check = () => visible(selector);
      if (check()) {
        painted().then(resolve);
        return;
      }
      const observer = new MutationObserver(() => {
        if (check()) {
          observer.disconnect();
          painted().then(resolve);
        }
      });
      const observe = () =>
        observer.observe(document, {
          subtree: true,
          childList: true,
          attributes: true,
          attributeFilter: ['class', 'style']
        });
      observe();
    });
  const started = new Promise(resolve => {
    const check = () => {
      if (window.jupyterapp) {
        window.jupyterapp.started.then(() => resolve(performance.now()));
      } else {
        setTimeout(check, 5);
      }
    };
    check();
  });
  window.__bench = {
    done: Promise.all([
      when('#jp-main-dock-panel'),
      when('.jp-Launcher'),
      started
    ]).then(([dock, launcher, start]) => ({ dock, launcher, started: start }))
  };
}

/**
 * Opens a JupyterLab page with a fresh workspace, waits for the shell.
 */
async function openLab(browser, server, name) {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 }
  });
  const page = await context.newPage();
  await page.goto(`${server.url}/lab/workspaces/${name}?reset`);
  await page.waitForFunction(() => window.jupyterapp);
  await page.evaluate(() => window.jupyterapp.restored);
  return { context, page };
}

/**
 * Opens a new notebook in the page and resolves, in the page, once its kernel
 * is idle and connected: the time from the command to then, in ms.
 */
async function newNotebook(page) {
  return page.evaluate(async () => {
    const app = window.jupyterapp;
    const start = performance.now();
    const panel = await app.commands.execute('notebook:create-new', {
      kernelName: 'python3'
    });
    await panel.context.ready;
    await panel.sessionContext.ready;
    const kernel = panel.sessionContext.session.kernel;
    await new Promise(resolve => {
      const check = () => {
        if (
          kernel.status === 'idle' &&
          kernel.connectionStatus === 'connected'
        ) {
          resolve();
        }
      };
      kernel.statusChanged.connect(check);
      kernel.connectionStatusChanged.connect(check);
      check();
    });
    return performance.now() - start;
  });
}

/**
 * A new notebook in a new page: kernel ready, then the first cell run at once.
 */
async function firstCell(browser, server) {
  const { context, page } = await openLab(
    browser,
    server,
    `cell-${Date.now()}`
  );
  try {
    const ready = await newNotebook(page);
    const result = await page.evaluate(async code => {
      const app = window.jupyterapp;
      const panel = app.shell.currentWidget;
      const cell = panel.content.activeCell;
      cell.model.sharedModel.setSource(code);
      const start = performance.now();
      await app.commands.execute('notebook:run-cell');
      const reply = performance.now() - start;
      const output = cell.model.outputs.length
        ? cell.model.outputs.get(0).toJSON()
        : null;
      const text = output && output.text ? [].concat(output.text).join('') : '';
      return { reply, text, count: cell.model.executionCount };
    }, FIRST_CELL);
    const environ = Number(result.text.trim());
    if (
      !result.count ||
      !Number.isFinite(environ) ||
      result.text.trim() === ''
    ) {
      throw new Error(
        `the first cell did not run on ${server.name}: ${JSON.stringify(result)}`
      );
    }
    return { ready, reply: result.reply, environ };
  } finally {
    await context.close();
    await server.shutdownKernels();
  }
}

/**
 * Opens `count` tabs, each with the Secrets panel open and a new notebook
 * with a running kernel; lets them settle, then counts their requests.
 */
async function requestRate(browser, server, count) {
  const counts = { counting: false, total: 0, api: 0, paths: {} };
  const contexts = [];
  const pages = [];
  try {
    // The tabs open side by side, as a user's tabs restore after a restart.
    // Each tab in a browser context of its own: tabs of one context that start
    // at once can take each other's window name, and JupyterLab then reloads.
    const open = async i => {
      const context = await browser.newContext({
        viewport: { width: 1280, height: 900 }
      });
      contexts.push(context);
      const page = await context.newPage();
      page.on('request', request => {
        if (!counts.counting) {
          return;
        }
        const url = new URL(request.url());
        counts.total++;
        if (url.pathname.startsWith(API)) {
          counts.api++;
        }
        // Ids and workspace names differ between tabs: count them as one path.
        const key = `${request.method()} ${url.pathname
          .replace(/[0-9a-f-]{36}/g, '{id}')
          .replace(/tab-\d+-\d+/, '{workspace}')}`;
        counts.paths[key] = (counts.paths[key] || 0) + 1;
      });
      pages.push(page);
      await page.goto(
        `${server.url}/lab/workspaces/tab-${Date.now()}-${i}?reset`,
        {
          timeout: 300000
        }
      );
      await page.waitForFunction(() => window.jupyterapp, null, {
        timeout: 300000
      });
      await page.evaluate(() => window.jupyterapp.restored);
      if (server.extension) {
        await page.locator('.jp-SideBar [data-id="jp-secrets-panel"]').click();
        await page.getByRole('region', { name: 'Secrets' }).waitFor();
      }
      await newNotebook(page);
    };
    await Promise.all(Array.from({ length: count }, (_, i) => open(i)));
    // Headless tabs count as visible: a poll that stands by when hidden runs.
    counts.visibility = await pages[0].evaluate(() => document.visibilityState);
    await new Promise(resolve => setTimeout(resolve, options.settle * 1000));
    counts.counting = true;
    await new Promise(resolve => setTimeout(resolve, options.window * 1000));
    counts.counting = false;
  } finally {
    await Promise.all(contexts.map(context => context.close()));
    await server.shutdownKernels();
  }
  const scale = 60 / options.window;
  const paths = {};
  for (const [key, n] of Object.entries(counts.paths)) {
    paths[key] = n * scale;
  }
  return {
    total: counts.total * scale,
    api: counts.api * scale,
    paths,
    visibility: counts.visibility
  };
}

async function createSecrets(server, from, to) {
  let next = from;
  const worker = async () => {
    while (next <= to) {
      const i = next++;
      const response = await fetch(`${server.url}${API}secrets`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          name: `BENCH_SECRET_${String(i).padStart(4, '0')}`,
          value: `value-${i}-${Math.random().toString(36).slice(2)}`
        })
      });
      if (response.status !== 201) {
        throw new Error(
          `create ${i}: ${response.status} ${await response.text()}`
        );
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * A JupyterLab in its own folder, with the extension or with it disabled.
 */
async function startServer(dir, name, extension) {
  const home = path.join(dir, name);
  const root = path.join(home, 'root');
  const config = path.join(home, 'config');
  fs.mkdirSync(root, { recursive: true });
  fs.mkdirSync(path.join(config, 'labconfig'), { recursive: true });
  if (!extension) {
    fs.writeFileSync(
      path.join(config, 'labconfig', 'page_config.json'),
      JSON.stringify({ disabledExtensions: { 'jupyterlab-secrets': true } })
    );
  }
  const port = await freePort();
  const args = [
    'lab',
    '--no-browser',
    `--ServerApp.port=${port}`,
    '--ServerApp.port_retries=0',
    '--ServerApp.ip=127.0.0.1',
    `--ServerApp.root_dir=${root}`,
    '--IdentityProvider.token=',
    '--ServerApp.password=',
    '--ServerApp.disable_check_xsrf=True',
    '--LabApp.expose_app_in_browser=True',
    `--LabApp.workspaces_dir=${path.join(home, 'workspaces')}`,
    `--ServerApp.jpserver_extensions=jupyterlab_secrets=${extension ? 'True' : 'False'}`
  ];
  if (extension) {
    args.push(
      `--SecretsExtension.db_url=sqlite:///${path.join(dir, 'secrets.db')}`,
      `--SecretsExtension.key_file=${path.join(dir, 'key')}`
    );
  }
  if (process.getuid && process.getuid() === 0) {
    args.push('--allow-root');
  }
  const env = { ...process.env, JUPYTER_CONFIG_DIR: config };
  delete env.JUPYTERLAB_SECRETS_KEY;
  const child = spawn(jupyterCommand('jupyter'), args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env
  });
  children.add(child);
  let log = '';
  child.stderr.on('data', chunk => {
    log = (log + chunk).slice(-4000);
  });
  child.once('exit', code => {
    children.delete(child);
    if (code) {
      console.error(`${name} server exited with ${code}:\n${log}`);
    }
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    name,
    extension,
    url,
    child,
    async shutdownKernels() {
      const response = await fetch(`${url}/api/kernels`);
      for (const kernel of await response.json()) {
        await fetch(`${url}/api/kernels/${kernel.id}`, { method: 'DELETE' });
      }
    },
    async stop() {
      if (child.exitCode !== null) {
        return;
      }
      child.kill('SIGTERM');
      await new Promise(resolve => child.once('exit', resolve));
    }
  };
}

async function waitForServer(server) {
  const probe = server.extension ? `${API}secrets` : '/api/status';
  for (let i = 0; i < 240; i++) {
    try {
      const response = await fetch(`${server.url}${probe}`);
      if (response.ok) {
        return;
      }
    } catch {
      // Not up yet.
    }
    await new Promise(resolve => setTimeout(resolve, 500));
  }
  throw new Error(`JupyterLab (${server.name}) did not start on ${server.url}`);
}
