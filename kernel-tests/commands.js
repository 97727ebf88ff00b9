/**
 * Where the Python tools live: the project's virtualenv when there is one,
 * else the PATH.
 */
const fs = require('fs');
const path = require('path');

function jupyterCommand(name) {
  const local = path.resolve(__dirname, '..', '.venv', 'bin', name);
  return fs.existsSync(local) ? local : name;
}

module.exports = { jupyterCommand };
