/**
 * The server's injection against real ipykernel kernels, started through
 * the REST API as VS Code, nbclient or a script start them: no JupyterLab
 * page and no frontend code take part.
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

import {
  execute,
  hex,
  IExecution,
  IServerFixture,
  ITestServer,
  peek,
  SecretsRest,
  startFixture,
  waitFor,
  waitForStatus
} from './server';
import { trickyValues } from './values';

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

let fixture: IServerFixture | undefined;
let server: ITestServer;
let rest: SecretsRest;
let ids: Record<string, string>;

beforeAll(async () => {
  fixture = await startFixture(secrets);
  ({ server, rest, ids } = fixture);
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
      if (i % 2 === 0) {
        // A notebook session, as a notebook client opens one
        const session = await startSession();
        const execution = await execute(session.kernel!, ENV_CHECK);
        await closeSession(session);
        return execution;
      }
      // A bare kernel, as nbclient or a script starts one
      const kernel = await server.kernels.startNew({ name: 'python3' });
      const execution = await execute(kernel, ENV_CHECK);
      await kernel.shutdown();
      return execution;
    });

    for (const execution of firstCells) {
      expect(execution.reply.status).toBe('ok');
      expect(execution.reply.execution_count).toBe(1);
      expect(wrongSecrets(execution)).toEqual([]);
    }
  });

  it('is said to hold every name, and no value', async () => {
    const session = await startSession();

    const state = await rest.kernel(session.kernel!.id);

    expect(state).toEqual({
      kernel_id: session.kernel!.id,
      language: 'python',
      state: 'loaded',
      names,
      skipped: [],
      message: null
    });
    await closeSession(session);
  });

  it('reports an error when the kernel cannot set them, and recovers', async () => {
    const session = await startSession();
    const kernel = session.kernel!;
    await execute(kernel, 'import os\nos.environ.update = None');

    const failed = await rest.reload(kernel.id);
    await execute(kernel, 'del os.environ.update');
    const recovered = await rest.reload(kernel.id);

    expect(failed.state).toBe('error');
    expect(failed.message).toBeTruthy();
    expect(recovered.state).toBe('loaded');
    await closeSession(session);
  });
});

describe('a restarted kernel', () => {
  it('runs the first cell after a restart with every secret set', async () => {
    const session = await startSession();
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
    'recent': [str(_), _i, _ii, _iii],
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
    const sent = new Set<string>();
    const iopub: KernelMessage.IIOPubMessage[] = [];
    kernel.anyMessage.connect((_, { msg, direction }) => {
      if (direction === 'send') {
        sent.add(msg.header.msg_id);
      }
    });
    kernel.iopubMessage.connect((_, msg) => {
      iopub.push(msg);
    });

    // Given the same first cell in two kernels
    const first = await Promise.all([
      execute(plain.kernel!, SNAPSHOT),
      execute(kernel, SNAPSHOT)
    ]);
    // and two more injections into the second, sent by the server
    expect((await rest.reload(kernel.id)).state).toBe('loaded');
    expect((await rest.reload(kernel.id)).state).toBe('loaded');
    const second = await Promise.all([
      execute(plain.kernel!, SNAPSHOT),
      execute(kernel, SNAPSHOT)
    ]);

    // Then the user sees the same: counts, In/Out, _, _i, history, globals
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
    // and, after one more, IPython's last result holds nothing of it
    await rest.reload(kernel.id);
    const last = await execute(
      kernel,
      "print(repr(getattr(getattr(get_ipython().last_execution_result, 'info', None), 'raw_cell', None)))"
    );
    expect(last.stdout).toBe("''\n");

    // and the server's requests produced nothing on the kernel's channels
    // but busy/idle
    const foreign = iopub.filter(
      msg =>
        !sent.has((msg.parent_header as any).msg_id) &&
        (msg.parent_header as any).msg_id !== undefined
    );
    expect(foreign.length).toBeGreaterThan(0);
    expect(foreign.filter(msg => msg.header.msg_type !== 'status')).toEqual([]);
    await closeSession(plain);
    await closeSession(watched);
  });
});

describe('values', () => {
  let session: Session.ISessionConnection;
  let kernel: Kernel.IKernelConnection;

  beforeAll(async () => {
    session = await startSession();
    kernel = session.kernel!;
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
    await rest.reload(kernel.id);
    await execute(kernel, ENV_CHECK);
    expect(fs.existsSync(marker)).toBe(false);
  });
});

describe('#!:bash cells', () => {
  let session: Session.ISessionConnection;
  let kernel: Kernel.IKernelConnection;

  beforeAll(async () => {
    session = await startSession();
    kernel = session.kernel!;
  });

  afterAll(async () => {
    await closeSession(session);
  });

  it('run in bash when the first line is #!:bash, from the first cell on', async () => {
    const execution = await execute(
      kernel,
      '#!:bash\necho "shell $BASH_VERSION" | cut -c1-6\nprintenv my-api-key'
    );
    expect(execution.reply.execution_count).toBe(1);
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
    await rest.reload(kernel.id);
    await rest.reload(kernel.id);
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
  it('reaches a running kernel with no page open, and removes what is gone', async () => {
    const session = await startSession();
    const kernel = session.kernel!;
    const check =
      "import os\nprint(os.environ.get('LIVE_CHANGED'), os.environ.get('LIVE_RENAMED'), os.environ.get('LIVE_NEW_NAME'), os.environ.get('LIVE_DELETED'))";
    expect((await execute(kernel, check)).stdout).toBe(
      'before renamed value None deleted soon\n'
    );

    // When the secrets change through the REST API
    await rest.update(ids.LIVE_CHANGED, { value: 'after' });
    await rest.update(ids.LIVE_RENAMED, { name: 'LIVE_NEW_NAME' });
    await rest.remove(ids.LIVE_DELETED);
    // (How long this takes is measured in bench/, not asserted here.)
    await waitFor(
      async () =>
        (await peek(kernel, "os.environ.get('LIVE_DELETED', 'gone')")) ===
        "'gone'",
      60000
    );
    const execution = await execute(kernel, check);

    // Then the running kernel has the new set, without a restart
    expect(execution.stdout).toBe('after None renamed value None\n');
    expect(execution.reply.execution_count).toBe(2);
    const state = await rest.kernel(kernel.id);
    expect(state.names).toContain('LIVE_NEW_NAME');
    expect(state.names).not.toContain('LIVE_DELETED');
    await closeSession(session);
  });
});
