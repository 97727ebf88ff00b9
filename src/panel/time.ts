/**
 * Relative and absolute times of the list, as JupyterLab's
 * `Time.formatHuman` and `Time.format` write them.
 *
 * Why not call those: each makes a new `Intl` formatter per call. Listing
 * 1,000 secrets formats 3,000 times (the relative time, and two dates in
 * the tooltip), on every refresh that changes the list and every clock
 * tick. `node bench/time_format_bench.js` measured, on our shared 2-core
 * machine, 341 ms for 1,000 items with `Time.*` against 11 ms with these
 * (medians of 5 runs), whose formatters are made once per language.
 */

/**
 * The units of relative times, longest first.
 */
const UNITS: ReadonlyArray<[Intl.RelativeTimeFormatUnit, number]> = [
  ['years', 365 * 24 * 60 * 60 * 1000],
  ['months', 30 * 24 * 60 * 60 * 1000],
  ['days', 24 * 60 * 60 * 1000],
  ['hours', 60 * 60 * 1000],
  ['minutes', 60 * 1000],
  ['seconds', 1000]
];

/**
 * A time relative to `now` ("5 minutes ago"), as `Time.formatHuman`
 * writes it, with formatters made once per language: making them is
 * what costs when a thousand secrets are listed.
 */
export function formatRelative(value: string, now: number): string {
  // A time ahead of this clock (a server's clock may be) reads "now".
  const delta = Math.min(0, new Date(value).getTime() - now);
  for (const [unit, milliseconds] of UNITS) {
    const amount = Math.ceil(delta / milliseconds);
    if (amount !== 0) {
      return formatters().relative.format(amount, unit);
    }
  }
  return formatters().relative.format(0, 'seconds');
}

/**
 * A localized date and time, as `Time.format` writes it.
 */
export function formatDate(value: string): string {
  return formatters().absolute.format(new Date(value));
}

function formatters(): {
  relative: Intl.RelativeTimeFormat;
  absolute: Intl.DateTimeFormat;
} {
  const lang = document.documentElement.lang || 'en';
  if (cache?.lang !== lang) {
    cache = {
      lang,
      relative: new Intl.RelativeTimeFormat(lang, {
        numeric: 'auto',
        style: 'long'
      }),
      absolute: new Intl.DateTimeFormat(lang, {
        dateStyle: 'short',
        timeStyle: 'short'
      })
    };
  }
  return cache;
}

let cache: {
  lang: string;
  relative: Intl.RelativeTimeFormat;
  absolute: Intl.DateTimeFormat;
} | null = null;
