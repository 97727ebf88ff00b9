/**
 * The injector against a real Jupyter server and real ipykernel kernels.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import {
  Kernel,
  KernelAPI,
  KernelMessage,
  Session
} from '@jupyterlab/services';

import { EnvironmentCache } from '../src/injector/cache';
import { KernelInjector } from '../src/injector/injector';
import { trickyValues } from '../src/injector/__tests__/values';
import {
  execute,
  hex,
  IExecution,
  IInjectionFixture,
  ITestServer,
  startInjectionFixture,
  waitForStatus
} from './server';

const marker = path.join(
  os.tmpdir(),
  `secrets-injection-marker-${process.pid}-${Date.now()}`
);
const secrets: Record<string, string> = {
  ...trickyValues(marker),
  'my-api-key': 'sk-test-0123456789',
  LIVE_CHANGED: 'before',
  LIVE_RENAMED: 'renamed value',
  LIVE_DELETED: 'deleted soon'
};
const names = Object.keys(secrets).sort();

/**
 * A cell that prints the bytes of every secret in `os.environ`, in hex, and
 * leaves no name behind.
 */
const ENV_CHECK = `print(__import__('json').dumps({k: __import__('os').environb.get(k.encode(), b'<unset>').hex() for k in ${JSON.stringify(
  names
)}}))`;

let fixture: IInjectionFixture | undefined;
let server: ITestServer;
let cache: EnvironmentCache;
let injector: KernelInjector;
let ids: Record<string, string>;

beforeAll(async () => {
  fixture = await startInjectionFixture(secrets);
  ({ server, cache, injector, ids } = fixture);
});

afterAll(async () => {
  await fixture?.stop();
});

function startSession(kernel = 'python3'): Promise<Session.ISessionConnection> {
  return fixture!.startSession(kernel);
}

function closeSession(session: Session.ISessionConnection): Promise<void> {
  return fixture!.closeSession(session);
}

/**
 * The names whose bytes in the kernel differ from the stored value.
 */
function wrongSecrets(execution: IExecution): string[] {
  expect(execution.error).toBeNull();
  const seen = JSON.parse(execution.stdout);
  return names.filter(name => seen[name] !== hex(secrets[name]));
}

/**
 * Run things a few at a time: kernels start faster side by side.
 */
async function inBatches<T>(
  count: number,
  size: number,
  run: (i: number) => Promise<T>
): Promise<T[]> {
  const results: T[] = [];
  for (let start = 0; start < count; start += size) {
    const batch = [];
    for (let i = start; i < Math.min(count, start + size); i++) {
      batch.push(run(i));
    }
    results.push(...(await Promise.all(batch)));
  }
  return results;
}

describe('a new kernel', () => {
  it('runs its first cell with every secret set, 20 times out of 20', async () => {
    const firstCells = await inBatches(20, 4, async i => {
      const session = await startSession();
      let cell: Promise<IExecution>;
      if (i % 2 === 0) {
        // The kernel is there: the injector tracks it, and the cell goes
        // out at once.
        injector.watch(session, session.kernel);
        cell = execute(session.kernel!, ENV_CHECK);
      } else {
        // As in a notebook: the kernel appears through `kernelChanged`, and
        // a listener connected after the injector sends a cell in the same
        // emission.
        injector.watch(session, session.kernel);
        let sent: Promise<IExecution> | null = null;
        session.kernelChanged.connect((_, args) => {
          if (args.newValue && !sent) {
            sent = execute(args.newValue, ENV_CHECK);
          }
        });
        await session.changeKernel({ name: 'python3' });
        expect(sent).not.toBeNull();
        cell = sent!;
      }
      const execution = await cell;
      await closeSession(session);
      return execution;
    });

    for (const execution of firstCells) {
      expect(execution.reply.status).toBe('ok');
      expect(execution.reply.execution_count).toBe(1);
      expect(wrongSecrets(execution)).toEqual([]);
    }
  });

  it('reports the names it loaded, and the kernel confirmed them', async () => {
    const session = await startSession();
    injector.watch(session, session.kernel);
    const kernel = session.kernel!;

    const state = await injector.inject(kernel);

    expect(state.status).toBe('loaded');
    expect(state.language).toBe('python');
    expect([...state.names]).toEqual(names);
    expect(state.skipped).toEqual([]);
    await closeSession(session);
  });

  it('reports an error when the kernel cannot set them, and recovers', async () => {
    const session = await startSession();
    injector.watch(session, session.kernel);
    const kernel = session.kernel!;
    await execute(kernel, 'import os\nos.environ.update = None');

    const failed = await injector.inject(kernel);
    await execute(kernel, 'del os.environ.update');
    const recovered = await injector.inject(kernel);

    expect(failed.status).toBe('error');
    expect(failed.reason).toBe('kernel');
    expect(recovered.status).toBe('loaded');
    await closeSession(session);
  });
});

describe('a restarted kernel', () => {
  it('runs the first cell after a restart with every secret set', async () => {
    const session = await startSession();
    injector.watch(session, session.kernel);
    const kernel = session.kernel!;
    await execute(kernel, 'x = 1');

    for (let i = 0; i < 3; i++) {
      await kernel.restart();
      const execution = await execute(kernel, ENV_CHECK);
      expect(execution.reply.execution_count).toBe(1);
      expect(wrongSecrets(execution)).toEqual([]);
    }

    // A cell run while the restart is still under way waits for it, and
    // for the secrets.
    const restarting = kernel.restart();
    await new Promise(resolve => setTimeout(resolve, 0));
    const during = execute(kernel, ENV_CHECK);
    await restarting;
    const execution = await during;
    expect(execution.reply.execution_count).toBe(1);
    expect(wrongSecrets(execution)).toEqual([]);
    await closeSession(session);
  });

  it('runs the first cell after an automatic restart with every secret set', async () => {
    const session = await startSession();
    injector.watch(session, session.kernel);
    const kernel = session.kernel!;

    for (let i = 0; i < 2; i++) {
      const pid = Number(
        (await execute(kernel, "print(__import__('os').getpid())")).stdout
      );
      const autorestarting = waitForStatus(kernel, 'autorestarting');
      process.kill(pid, 'SIGKILL');
      await autorestarting;
      const execution = await execute(kernel, ENV_CHECK);

      expect(execution.reply.execution_count).toBe(1);
      expect(wrongSecrets(execution)).toEqual([]);
    }
    await closeSession(session);
  });

  it('runs the first cell after reconnecting to a kernel restarted elsewhere', async () => {
    const session = await startSession();
    injector.watch(session, session.kernel);
    const kernel = session.kernel!;
    await execute(kernel, 'x = 1');

    // Another client restarts the kernel; this one reconnects, and runs a
    // cell at once.
    await KernelAPI.restartKernel(kernel.id, server.settings);
    void kernel.reconnect();
    const execution = await execute(kernel, ENV_CHECK);

    expect(execution.reply.execution_count).toBe(1);
    expect(wrongSecrets(execution)).toEqual([]);
    await closeSession(session);
  });
});

describe('the injection is quiet', () => {
  /**
   * Everything a user could see of past executions, printed without adding
   * a name anywhere.
   */
  const SNAPSHOT = `print(__import__('json').dumps({
    'globals': sorted(globals()),
    'In': In,
    'Out': sorted(map(str, Out)),
    'recent': [_i, _ii, _iii],
    'history': [list(map(str, r)) for r in get_ipython().history_manager.get_range(raw=True, output=True)],
    'count': get_ipython().execution_count,
  }))`;

  /**
   * Every entry of the IPython history database, of every session, that
   * looks like injection code. The patterns are split so that this cell
   * does not find itself.
   */
  const HISTORY_SEARCH = `print(__import__('json').dumps([list(map(str, r)) for p in ('*b64' + 'decode*', '*JUPYTERLAB' + '_SECRETS*', '*jupyterlab' + '_secrets*', '*exec' + '(*') for r in get_ipython().history_manager.search(p, raw=True)]))`;

  it('changes no execution count, history, namespace or output', async () => {
    const plain = await startSession();
    const watched = await startSession();
    const kernel = watched.kernel!;
    const sent: KernelMessage.IExecuteRequestMsg[] = [];
    const iopub: KernelMessage.IIOPubMessage[] = [];
    kernel.anyMessage.connect((_, { msg, direction }) => {
      if (direction === 'send' && msg.header.msg_type === 'execute_request') {
        sent.push(msg as KernelMessage.IExecuteRequestMsg);
      }
    });
    kernel.iopubMessage.connect((_, msg) => {
      iopub.push(msg);
    });
    injector.watch(watched, kernel);

    // Given the same first cell in a kernel without secrets and one with
    const first = await Promise.all([
      execute(plain.kernel!, SNAPSHOT),
      execute(kernel, SNAPSHOT)
    ]);
    // and two more injections into the second
    await injector.inject(kernel);
    await injector.inject(kernel);
    const second = await Promise.all([
      execute(plain.kernel!, SNAPSHOT),
      execute(kernel, SNAPSHOT)
    ]);

    // Then the user sees the same: counts, In/Out, history, globals
    for (const [without, withSecrets] of [first, second]) {
      expect(withSecrets.error).toBeNull();
      expect(JSON.parse(withSecrets.stdout)).toEqual(
        JSON.parse(without.stdout)
      );
      expect(withSecrets.reply.execution_count).toBe(
        without.reply.execution_count
      );
    }
    expect(first[1].reply.execution_count).toBe(1);
    expect(second[1].reply.execution_count).toBe(2);
    const search = await execute(kernel, HISTORY_SEARCH);
    expect(JSON.parse(search.stdout)).toEqual([]);

    // and the injections were silent requests that carried no raw value and
    // produced nothing but busy/idle
    const injections = sent.filter(msg => msg.content.silent);
    expect(injections.length).toBe(3);
    for (const msg of injections) {
      expect(msg.content).toMatchObject({
        silent: true,
        store_history: false,
        allow_stdin: false,
        stop_on_error: false
      });
      for (const value of Object.values(secrets)) {
        expect(msg.content.code.includes(value)).toBe(false);
      }
    }
    const injectionIds = new Set(injections.map(msg => msg.header.msg_id));
    const injectionOutput = iopub.filter(
      msg =>
        injectionIds.has((msg.parent_header as any).msg_id) &&
        msg.header.msg_type !== 'status'
    );
    expect(injectionOutput).toEqual([]);
    await closeSession(plain);
    await closeSession(watched);
  });
});

describe('values', () => {
  let session: Session.ISessionConnection;
  let kernel: Kernel.IKernelConnection;

  beforeAll(async () => {
    session = await startSession();
    injector.watch(session, session.kernel);
    kernel = session.kernel!;
    await injector.inject(kernel);
  });

  afterAll(async () => {
    await closeSession(session);
  });

  it('reach os.environ byte for byte', async () => {
    expect(wrongSecrets(await execute(kernel, ENV_CHECK))).toEqual([]);
  });

  it('reach a #!:bash cell byte for byte', async () => {
    const execution = await execute(
      kernel,
      [
        '#!:bash',
        `for n in ${names.join(' ')}; do`,
        `  printf '%s=' "$n"; printenv "$n" | od -An -v -tx1 | tr -d ' \\n'; echo`,
        'done'
      ].join('\n')
    );

    const seen = Object.fromEntries(
      execution.stdout
        .trim()
        .split('\n')
        .map(line => line.split('='))
    );
    expect(names.filter(n => seen[n] !== hex(secrets[n] + '\n'))).toEqual([]);
  });

  it('are never run as code', async () => {
    await execute(kernel, ENV_CHECK);
    expect(fs.existsSync(marker)).toBe(false);
  });
});

describe('#!:bash cells', () => {
  let session: Session.ISessionConnection;
  let kernel: Kernel.IKernelConnection;

  beforeAll(async () => {
    session = await startSession();
    injector.watch(session, session.kernel);
    kernel = session.kernel!;
  });

  afterAll(async () => {
    await closeSession(session);
  });

  it('run in bash when the first line is #!:bash', async () => {
    const execution = await execute(
      kernel,
      '#!:bash\necho "shell $BASH_VERSION" | cut -c1-6\nprintenv my-api-key'
    );
    expect(execution.stdout).toBe(`shell \n${secrets['my-api-key']}\n`);
  });

  it('pass their arguments to %%bash', async () => {
    await execute(kernel, '#!:bash --out captured\necho "args pass through"');
    const execution = await execute(kernel, 'print(repr(captured))');
    expect(execution.stdout).toBe("'args pass through\\n'\n");
  });

  it.each([
    ['on a later line', "x = 1\n#!:bash\nprint('python ran')"],
    ['after a space', "# !:bash\nprint('python ran')"],
    ['as part of a word', "#!:bashful\nprint('python ran')"],
    ['indented', " #!:bash\nprint('python ran')"]
  ])('stay Python with the marker %s', async (_, code) => {
    const execution = await execute(kernel, code);
    expect(execution.error).toBeNull();
    expect(execution.stdout).toBe('python ran\n');
  });

  it('have one transformer, however often secrets are set', async () => {
    await injector.inject(kernel);
    await injector.inject(kernel);
    const execution = await execute(
      kernel,
      "print(sum(1 for t in get_ipython().input_transformers_cleanup if getattr(t, 'jupyterlab_secrets', False)))"
    );
    expect(execution.stdout).toBe('1\n');
  });

  it('keep no value in the namespace the transformer lives in', async () => {
    const execution = await execute(
      kernel,
      "print(sorted(k for k in [t for t in get_ipython().input_transformers_cleanup if getattr(t, 'jupyterlab_secrets', False)][0].__globals__ if k in ('SECRETS', 'fields', 'values')))"
    );
    expect(execution.stdout).toBe('[]\n');
  });
});

describe('a change of the secrets', () => {
  it('reaches a running kernel within a second, and removes what is gone', async () => {
    const session = await startSession();
    injector.watch(session, session.kernel);
    const kernel = session.kernel!;
    await injector.inject(kernel);
    const check =
      "import os\nprint(os.environ.get('LIVE_CHANGED'), os.environ.get('LIVE_RENAMED'), os.environ.get('LIVE_NEW_NAME'), os.environ.get('LIVE_DELETED'))";
    expect((await execute(kernel, check)).stdout).toBe(
      'before renamed value None deleted soon\n'
    );

    // When the secrets change on the server and the cache refreshes, as the
    // plugin does on every change of the model
    const changed = await server.client.get(ids.LIVE_CHANGED);
    await server.client.update(ids.LIVE_CHANGED, {
      version: changed.version,
      value: 'after'
    });
    const renamed = await server.client.get(ids.LIVE_RENAMED);
    await server.client.update(ids.LIVE_RENAMED, {
      version: renamed.version,
      name: 'LIVE_NEW_NAME'
    });
    await server.client.remove(ids.LIVE_DELETED);
    // (How long this takes is measured in bench/, not asserted here.)
    await cache.refresh();
    const execution = await execute(kernel, check);

    // Then the running kernel has the new set, without a restart
    expect(execution.stdout).toBe('after None renamed value None\n');
    expect(execution.reply.execution_count).toBe(2);
    expect(injector.stateOf(kernel)?.names).toContain('LIVE_NEW_NAME');
    expect(injector.stateOf(kernel)?.names).not.toContain('LIVE_DELETED');
    await closeSession(session);
  });
});
