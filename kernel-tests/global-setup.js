/**
 * Make sure the kernels the tests drive are installed: bash_kernel's
 * kernelspec is not part of a plain `pip install`.
 */
const { execFileSync } = require('child_process');
const { jupyterCommand } = require('./commands');

module.exports = async () => {
  const [jupyter, python] = [
    jupyterCommand('jupyter'),
    jupyterCommand('python')
  ];
  const specs = JSON.parse(
    execFileSync(jupyter, ['kernelspec', 'list', '--json']).toString()
  ).kernelspecs;
  if (!specs.bash) {
    execFileSync(python, ['-m', 'bash_kernel.install', '--sys-prefix'], {
      stdio: 'ignore'
    });
  }
};
