/**
 * Small helpers shared by the browser benches: statistics, formatting, options.
 */
'use strict';

const path = require('path');

/**
 * Playwright's Chromium driver: ui-tests' `@playwright/test`, else the root's
 * `playwright-core`, else whichever NODE_PATH finds. It never downloads a browser.
 */
function chromiumDriver() {
  const root = path.join(__dirname, '..');
  const candidates = [
    path.join(root, 'ui-tests', 'node_modules', '@playwright/test'),
    path.join(root, 'node_modules', 'playwright-core'),
    '@playwright/test',
    'playwright-core'
  ];
  for (const candidate of candidates) {
    try {
      return require(candidate).chromium;
    } catch {
      // Not installed there.
    }
  }
  throw new Error(
    'Playwright is not installed: run `jlpm install` in ui-tests/'
  );
}

function median(values) {
  return quantile(values, 0.5);
}

function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  const high = Math.ceil(at);
  return sorted[low] + (sorted[high] - sorted[low]) * (at - low);
}

function ms(value) {
  return `${value.toFixed(1)} ms`;
}

function parseArgs(argv, defaults) {
  const parsed = { ...defaults };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in defaults)) {
      throw new Error(`unknown option --${key}`);
    }
    parsed[key] =
      typeof defaults[key] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  return parsed;
}

module.exports = { chromiumDriver, median, quantile, ms, parseArgs };
