import jupyter from '@jupyter/eslint-plugin';
import prettier from 'eslint-config-prettier';
import react from 'eslint-plugin-react';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      '**/lib/**',
      '.venv/**',
      'coverage/**',
      'bench/build/**',
      'jupyterlab_secrets/**',
      'ui-tests/test-results/**',
      'ui-tests/playwright-report/**',
      '*.config.js',
      '*.config.mjs'
    ]
  },
  ...tseslint.configs.recommended,
  ...jupyter.configs.recommended.map(config => ({
    ...config,
    plugins: { jupyter }
  })),
  {
    files: ['**/*.ts', '**/*.tsx'],
    plugins: { react },
    languageOptions: {
      globals: { ...globals.browser, ...globals.node }
    },
    settings: { react: { version: 'detect' } },
    rules: {
      '@typescript-eslint/naming-convention': [
        'error',
        { selector: 'interface', format: ['PascalCase'], prefix: ['I'] }
      ],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-namespace': 'off',
      '@typescript-eslint/no-require-imports': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { args: 'none' }],
      'react/jsx-uses-vars': 'error',
      curly: ['error', 'all'],
      eqeqeq: 'error',
      'prefer-arrow-callback': ['error', { allowNamedFunctions: true }]
    }
  },
  {
    // Node scripts and configuration are CommonJS.
    files: ['**/*.js'],
    languageOptions: { globals: globals.node },
    rules: { '@typescript-eslint/no-require-imports': 'off' }
  },
  prettier
);
