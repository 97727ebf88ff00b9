/**
 * A real Jupyter server for the tests: its own root folder, secrets store,
 * key, IPython profile, token and free port. The tests are clients of its
 * REST API and kernel websockets only, as VS Code or a script would be: no
 * JupyterLab page, no frontend code.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';

import {
  Kernel,
  KernelManager,
  KernelMessage,
  KernelSpec,
  KernelSpecAPI,
  ServerConnection,
  Session,
  SessionManager
} from '@jupyterlab/services';

const WebSocket = require('ws');
const { jupyterCommand } = require('./commands');

/**
 * A running server and clients bound to it.
 */
export interface ITestServer {
  settings: ServerConnection.ISettings;
  kernels: KernelManager;
  sessions: SessionManager;
  specs: KernelSpec.ISpecModels;
  dir: string;
  stop(): Promise<void>;
}

/**
 * Start `jupyter server` with the secrets extension on a temporary store.
 */
export async function startServer(): Promise<ITestServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'secrets-kernel-tests-'));
  const root = path.join(dir, 'root');
  fs.mkdirSync(root);
  const port = await freePort();
  const token = Math.random().toString(36).slice(2) + 'token';
  const child = spawn(
    jupyterCommand('jupyter'),
    [
      'server',
      '--no-browser',
      `--port=${port}`,
      '--ServerApp.port_retries=0',
      '--ServerApp.ip=127.0.0.1',
      `--IdentityProvider.token=${token}`,
      `--ServerApp.root_dir=${root}`,
      '--ServerApp.allow_root=True',
      `--SecretsExtension.db_url=sqlite:///${path.join(dir, 'secrets.db')}`,
      `--SecretsExtension.key_file=${path.join(dir, 'key')}`,
      // These tests read injected values back from outputs; redaction of outputs is
      // tested on its own (jupyterlab_secrets/tests/test_redaction.py).
      '--SecretsExtension.redact_outputs=False'
    ],
    {
      env: {
        ...process.env,
        IPYTHONDIR: path.join(dir, 'ipython'),
        JUPYTER_RUNTIME_DIR: path.join(dir, 'runtime')
      },
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true
    }
  );
  let log = '';
  child.stderr!.on('data', chunk => {
    log += chunk.toString();
  });
  const baseUrl = `http://127.0.0.1:${port}/`;
  const settings = ServerConnection.makeSettings({
    baseUrl,
    wsUrl: `ws://127.0.0.1:${port}/`,
    token,
    appendToken: true,
    WebSocket
  });
  await waitUntilUp(child, () => log);
  await waitUntilAnswering(settings);
  const kernels = new KernelManager({ serverSettings: settings });
  const sessions = new SessionManager({
    kernelManager: kernels,
    serverSettings: settings
  });
  const [specs] = await Promise.all([
    KernelSpecAPI.getSpecs(settings),
    kernels.ready,
    sessions.ready
  ]);
  return {
    settings,
    kernels,
    sessions,
    specs,
    dir,
    stop: async () => {
      sessions.dispose();
      kernels.dispose();
      await stopProcess(child);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
}

/**
 * A secret's metadata, as the REST API answers it.
 */
export interface ISecretMeta {
  id: string;
  name: string;
  version: number;
}

/**
 * What the server says a kernel holds: names, never values.
 */
export interface IKernelSecrets {
  kernel_id: string;
  language: string | null;
  state: 'loaded' | 'pending' | 'unsupported' | 'error';
  names: string[];
  skipped: { name: string; reason: string }[];
  message: string | null;
}

/**
 * The secrets REST API, as any client (a script, VS Code, nbclient) calls it.
 */
export class SecretsRest {
  constructor(readonly settings: ServerConnection.ISettings) {}

  create(name: string, value: string): Promise<ISecretMeta> {
    return this._call('POST', 'secrets', { name, value });
  }

  get(id: string): Promise<ISecretMeta> {
    return this._call('GET', `secrets/${id}`);
  }

  async update(
    id: string,
    change: { name?: string; value?: string }
  ): Promise<ISecretMeta> {
    const { version } = await this.get(id);
    return this._call('PATCH', `secrets/${id}`, { version, ...change });
  }

  async remove(id: string): Promise<void> {
    await this._call('DELETE', `secrets/${id}`);
  }

  /**
   * What the server says a kernel holds.
   */
  kernel(kernelId: string): Promise<IKernelSecrets> {
    return this._call('GET', `kernels/${kernelId}`);
  }

  /**
   * Set the secrets in a kernel now.
   */
  reload(kernelId: string): Promise<IKernelSecrets> {
    return this._call('POST', `kernels/${kernelId}/reload`);
  }

  private async _call(method: string, path: string, body?: unknown) {
    const url = `${this.settings.baseUrl}jupyterlab-secrets/api/${path}`;
    const response = await ServerConnection.makeRequest(
      url,
      {
        method,
        body: body === undefined ? undefined : JSON.stringify(body)
      },
      this.settings
    );
    if (!response.ok) {
      throw new Error(`${method} ${path}: ${response.status}`);
    }
    return response.status === 204 ? undefined : response.json();
  }
}

/**
 * A test server holding a set of secrets, and the notebook sessions the
 * tests start on it through its REST API.
 */
export interface IServerFixture {
  server: ITestServer;
  rest: SecretsRest;
  /**
   * The id of each secret, by name.
   */
  ids: Record<string, string>;
  /**
   * Start a notebook session on a kernel through REST, shut down by `stop`
   * if the test does not close it.
   */
  startSession(kernel: string): Promise<Session.ISessionConnection>;
  /**
   * Shut down a session the test started.
   */
  closeSession(session: Session.ISessionConnection): Promise<void>;
  /**
   * Shut down the sessions left, stop the server.
   */
  stop(): Promise<void>;
}

/**
 * Start a server and store the secrets in it (in the order of their names).
 */
export async function startFixture(
  secrets: Record<string, string>
): Promise<IServerFixture> {
  const server = await startServer();
  const rest = new SecretsRest(server.settings);
  const ids: Record<string, string> = {};
  try {
    for (const name of Object.keys(secrets).sort()) {
      ids[name] = (await rest.create(name, secrets[name])).id;
    }
  } catch (error) {
    await server.stop();
    throw error;
  }
  const sessions: Session.ISessionConnection[] = [];
  let counter = 0;
  return {
    server,
    rest,
    ids,
    async startSession(kernel) {
      const name = `notebook-${++counter}.ipynb`;
      const session = await server.sessions.startNew({
        path: name,
        name,
        type: 'notebook',
        kernel: { name: kernel }
      });
      sessions.push(session);
      return session;
    },
    async closeSession(session) {
      sessions.splice(sessions.indexOf(session), 1);
      await session.shutdown();
    },
    async stop() {
      await Promise.all(sessions.map(s => s.shutdown().catch(() => undefined)));
      await server.stop();
    }
  };
}

/**
 * What one execute request produced.
 */
export interface IExecution {
  msgId: string;
  reply: KernelMessage.IExecuteReplyMsg['content'];
  stdout: string;
  stderr: string;
  result: string | null;
  error: string | null;
}

/**
 * Run a cell as a notebook does (stored in history, not silent).
 * The request is sent before this returns.
 */
export function execute(
  kernel: Kernel.IKernelConnection,
  code: string
): Promise<IExecution> {
  const execution: IExecution = {
    msgId: '',
    reply: null as any,
    stdout: '',
    stderr: '',
    result: null,
    error: null
  };
  const future = kernel.requestExecute({ code });
  execution.msgId = future.msg.header.msg_id;
  future.onIOPub = msg => {
    if (KernelMessage.isStreamMsg(msg)) {
      if (msg.content.name === 'stdout') {
        execution.stdout += msg.content.text;
      } else {
        execution.stderr += msg.content.text;
      }
    } else if (KernelMessage.isExecuteResultMsg(msg)) {
      execution.result = String(msg.content.data['text/plain']);
    } else if (KernelMessage.isErrorMsg(msg)) {
      execution.error = `${msg.content.ename}: ${msg.content.evalue}`;
    }
  };
  return future.done.then(reply => {
    execution.reply = reply.content;
    return execution;
  });
}

/**
 * Resolve when a kernel connection reports a status.
 */
export function waitForStatus(
  kernel: Kernel.IKernelConnection,
  status: Kernel.Status
): Promise<void> {
  return new Promise(resolve => {
    const listener = (_: unknown, value: Kernel.Status) => {
      if (value === status) {
        kernel.statusChanged.disconnect(listener);
        resolve();
      }
    };
    kernel.statusChanged.connect(listener);
  });
}

/**
 * The UTF-8 bytes of a string, in hex.
 */
export function hex(text: string): string {
  return Buffer.from(text, 'utf8').toString('hex');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Resolve once the server says it listens; reject, with its log, if it exits
 * first or has not started within a minute.
 */
function waitUntilUp(child: ChildProcess, log: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (error?: Error) => {
      clearTimeout(timer);
      child.stderr!.off('data', onData);
      child.off('exit', onExit);
      if (error) {
        reject(error);
      } else {
        resolve();
      }
    };
    const onData = () => {
      if (log().includes(' is running at')) {
        settle();
      }
    };
    const onExit = () => {
      settle(new Error(`jupyter server exited:\n${log()}`));
    };
    const timer = setTimeout(() => {
      settle(new Error(`jupyter server did not start:\n${log()}`));
    }, 60000);
    child.stderr!.on('data', onData);
    child.once('exit', onExit);
    onData();
  });
}

/**
 * Wait until the server answers its REST API. Its "is running at" line has once come before
 * a first request could connect on a loaded machine, which failed every test of the file.
 */
async function waitUntilAnswering(
  settings: ServerConnection.ISettings
): Promise<void> {
  const deadline = Date.now() + 60000;
  for (;;) {
    try {
      const reply = await ServerConnection.makeRequest(
        `${settings.baseUrl}api/status`,
        {},
        settings
      );
      if (reply.ok) {
        return;
      }
    } catch (error) {
      if (Date.now() > deadline) {
        throw error;
      }
    }
    if (Date.now() > deadline) {
      throw new Error('jupyter server does not answer its REST API');
    }
    await new Promise(resolve => setTimeout(resolve, 200));
  }
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) {
    return;
  }
  const exited = new Promise(resolve => child.once('exit', resolve));
  try {
    process.kill(-child.pid!, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }, 10000);
  await exited;
  clearTimeout(timer);
}
