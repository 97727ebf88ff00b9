// @jupyterlab/services logs every websocket it opens, and every reconnect
// (which restarts cause on purpose here); keep the test output readable.
console.debug = () => undefined;
const warn = console.warn;
console.warn = (...args) => {
  if (String(args[0]).startsWith('Connection lost, reconnecting')) {
    return;
  }
  warn(...args);
};
