/**
 * Where the Python tools live: the project's virtualenv when there is one,
 * else the PATH.
 */
const fs = require('fs');
const path = require('path');

function jupyterCommand(name) {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const local = path.join(dir, '.venv', 'bin', name);
    if (fs.existsSync(local)) {
      return local;
    }
    if (path.dirname(dir) === dir) {
      return name;
    }
  }
}

module.exports = { jupyterCommand };
