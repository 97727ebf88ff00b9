/**
 * Values that break naive quoting in one language or another, for the
 * kernel integration tests.
 */

/**
 * A fake PEM block: its body is base64 itself, and it ends with a newline.
 */
export const PEM_BLOCK = [
  '-----BEGIN PRIVATE KEY-----',
  'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj',
  'MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu',
  'NMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ',
  '-----END PRIVATE KEY-----',
  ''
].join('\n');

/**
 * A value of exactly 65,536 UTF-8 bytes, the largest the server accepts,
 * made of every printable ASCII character so that no quoting survives it.
 */
export function bigValue(): string {
  let text = '';
  let seed = 7;
  while (text.length < 65536) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    text += String.fromCharCode(32 + (seed % 95));
  }
  return text;
}

/**
 * The tricky values by secret name. Names avoid hyphens so that bash can
 * export them too; `marker` is a file path that an injection would create
 * if it ran a value as code.
 */
export function trickyValues(marker = '/tmp/x'): Record<string, string> {
  return {
    TRICKY_QUOTES: `it's "quoted" and 'single' and \`back\``,
    TRICKY_BACKSLASHES: 'C:\\path\\to\\new\\file\\ \\n \\x00 \\\\',
    TRICKY_NEWLINES: 'line one\nline two\r\nline three\n\n',
    TRICKY_TRIPLE_SINGLE: "'''",
    TRICKY_TRIPLE_DOUBLE: '"""',
    TRICKY_DOLLAR: '$HOME ${PATH} $1 $$ $(id) ${x:-y}',
    TRICKY_BACKTICKS: '`id` `` `echo hacked`',
    TRICKY_PERCENT: '%s %d %% %(name)s %1 %%bash',
    TRICKY_EMOJI: '🔑🔒👩‍💻 🇺🇦',
    TRICKY_RTL: 'مرحبا بالعالم — שלום עולם',
    TRICKY_COMBINING: 'e\u0301 a\u0308 Z\u0335\u0321\u0322 \u0928\u093f',
    TRICKY_BIG: bigValue(),
    TRICKY_PEM: PEM_BLOCK,
    TRICKY_PYTHON: `'); import os; os.system('touch ${marker}') #`,
    TRICKY_SHELL: `$(touch ${marker})`,
    TRICKY_SHELL_TICKS: `\`touch ${marker}\`; touch ${marker} #`,
    TRICKY_HISTORY: '!! !-1 !$ ^a^b',
    TRICKY_SPACES: '  leading and trailing  \t'
  };
}
