/**
 * The page's view of a kernel: what a notebook's kernel client
 * (`@jupyterlab/services`, over the server's websocket) sees of the server's
 * injection, on real ipykernel kernels started through the REST API. What a
 * kernel holds, whichever client asks, is tested once, in
 * `jupyterlab_secrets/tests/test_kernels.py`.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { KernelAPI, KernelMessage, Session } from '@jupyterlab/services';

import {
  execute,
  hex,
  IExecution,
  IServerFixture,
  ITestServer,
  SecretsRest,
  startFixture,
  waitForStatus
} from './server';
import { trickyValues } from './values';

const marker = path.join(
  os.tmpdir(),
  `secrets-injection-marker-${process.pid}-${Date.now()}`
);
const secrets: Record<string, string> = {
  ...trickyValues(marker),
  'my-api-key': 'sk-test-0123456789'
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

beforeAll(async () => {
  fixture = await startFixture(secrets);
  ({ server, rest } = fixture);
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
    expect(fs.existsSync(marker)).toBe(false);
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
    expect(kernel.status).toBe('restarting');
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

describe('the page', () => {
  it("sees nothing of the server's requests, not even busy and idle", async () => {
    const session = await startSession();
    const kernel = session.kernel!;
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

    // Given a cell of the page
    const before = await execute(kernel, "print('before')");
    // When the server sets the secrets in the kernel twice more
    expect((await rest.reload(kernel.id)).state).toBe('loaded');
    expect((await rest.reload(kernel.id)).state).toBe('loaded');
    // and the page runs a cell after them
    const after = await execute(kernel, "print('after')");

    // Then the page got its own outputs
    expect([before.stdout, after.stdout]).toEqual(['before\n', 'after\n']);
    expect([before.reply.execution_count, after.reply.execution_count]).toEqual(
      [1, 2]
    );
    // and nothing of the server's requests, not even their busy and idle status
    const fromServer = iopub.filter(
      msg => (msg.parent_header as any).username === 'jupyterlab_secrets'
    );
    expect(fromServer).toEqual([]);
    const foreign = iopub.filter(
      msg =>
        !sent.has((msg.parent_header as any).msg_id) &&
        (msg.parent_header as any).msg_id !== undefined
    );
    expect(foreign.filter(msg => msg.header.msg_type !== 'status')).toEqual([]);
    await closeSession(session);
  });
});
