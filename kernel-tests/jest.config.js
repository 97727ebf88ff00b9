/**
 * What a notebook's kernel client sees of the server's kernel injection, on
 * real ipykernel kernels of a real Jupyter server. Run with
 * `jlpm test:kernels`.
 */
const path = require('path');
const jestJupyterLab = require('@jupyterlab/testutils/lib/jest-config');

const root = path.resolve(__dirname, '..');
const base = jestJupyterLab(root);

module.exports = {
  ...base,
  rootDir: root,
  roots: ['<rootDir>/kernel-tests'],
  testEnvironment: 'node',
  setupFiles: ['<rootDir>/kernel-tests/setup.js'],
  reporters: ['default'],
  testRegex: 'kernel-tests/.*\\.test\\.ts$',
  testTimeout: 120000,
  // A Lumino Poll disposed while it schedules its next tick still arms a
  // timer (its callback then does nothing); do not wait for those.
  forceExit: true,
  transform: {
    ...base.transform,
    '^.+\\.tsx?$': [
      'ts-jest/legacy',
      { tsconfig: '<rootDir>/kernel-tests/tsconfig.json' }
    ]
  },
  transformIgnorePatterns: [
    '/node_modules/(?!@jupyterlab/|@codemirror|@jupyter/ydoc|lib0|nanoid|y-protocols|yjs).+'
  ]
};
