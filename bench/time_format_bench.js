#!/usr/bin/env node
/**
 * How long the list's times take for 1,000 secrets: JupyterLab's
 * `Time.formatHuman` and `Time.format` (a new `Intl` formatter per call)
 * beside the list's own `src/panel/time.ts` (formatters made once per
 * language), measured in the same run. Each item shows one relative time
 * and holds two dates in its tooltip.
 *
 *   jlpm build:lib && node bench/time_format_bench.js [runs]
 */
'use strict';

const path = require('path');

// Both read the page's language from the document: Node has none.
globalThis.document = { documentElement: { lang: 'en' } };

const { Time } = require('@jupyterlab/coreutils/lib/time');
const { formatDate, formatRelative } = require(
  path.join(__dirname, '..', 'lib', 'panel', 'time.js')
);

const ITEMS = 1000;
const runs = Number(process.argv[2] || 5);
const now = Date.now();
const times = Array.from({ length: ITEMS }, (_, i) =>
  new Date(now - i * 37 * 60 * 1000).toISOString()
);

function measure(format) {
  const start = process.hrtime.bigint();
  for (const time of times) {
    format(time);
  }
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const median = values => values.sort((a, b) => a - b)[values.length >> 1];
const platform = [];
const list = [];
for (let i = 0; i < runs; i++) {
  platform.push(
    measure(t => [Time.formatHuman(t), Time.format(t), Time.format(t)])
  );
  list.push(
    measure(t => [formatRelative(t, now), formatDate(t), formatDate(t)])
  );
}
console.log(`${ITEMS} items, median of ${runs} runs:`);
console.log(
  `  Time.formatHuman + Time.format: ${median(platform).toFixed(1)} ms`
);
console.log(`  src/panel/time.ts:              ${median(list).toFixed(1)} ms`);
