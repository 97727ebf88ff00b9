/**
 * What the kernel injector costs, against a real jupyter_server and real
 * ipykernel (and bash_kernel) kernels.
 *
 * For 0, 10, 100 and 1,000 secrets it times the first user cell of a new
 * kernel, with and without the injector, in the same run:
 *
 * - from the moment the kernel appears to the frontend (the session is
 *   created, the kernel still booting) to the reply of the first cell, which
 *   is what a user waits for after opening a notebook;
 * - from the moment the kernel is ready (it answered `kernel_info`) to the
 *   reply of the first cell, which isolates the injection itself.
 *
 * It also times how long a change of one secret takes to reach a running
 * kernel: from the environment refetch to the kernel's confirmation.
 *
 *     jlpm bench:injector [--repeat 5]
 */
import { Kernel, Session } from '@jupyterlab/services';

import { KernelInjector } from '../src/injector/injector';
import {
  execute,
  ITestServer,
  makeInjector,
  startServer
} from '../kernel-tests/server';

// @jupyterlab/services logs every websocket it opens.
console.debug = () => undefined;

const SIZES = [0, 10, 100, 1000];
const REPEAT =
  Number(process.argv[process.argv.indexOf('--repeat') + 1] || 5) || 5;
const FIRST_CELL = 'import os; len(os.environ)';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * A value like an API key: 40 random characters.
 */
function apiKey(): string {
  const chars =
    'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let key = 'sk-';
  for (let i = 0; i < 40; i++) {
    key += chars[Math.floor(Math.random() * chars.length)];
  }
  return key;
}

let counter = 0;
async function newSession(
  server: ITestServer,
  kernel: string
): Promise<Session.ISessionConnection> {
  const name = `bench-${++counter}.ipynb`;
  return server.sessions.startNew({
    path: name,
    name,
    type: 'notebook',
    kernel: { name: kernel }
  });
}

/**
 * One first cell: the times from the kernel's appearance and from its
 * readiness to the cell's reply, in ms.
 */
async function firstCell(
  server: ITestServer,
  injector: KernelInjector | null,
  fromReady: boolean
): Promise<number> {
  const session = await newSession(server, 'python3');
  const kernel = session.kernel!;
  if (fromReady) {
    await kernel.info;
  }
  const start = performance.now();
  if (injector) {
    injector.watch(session, kernel);
  }
  const execution = await execute(kernel, FIRST_CELL);
  const elapsed = performance.now() - start;
  if (execution.reply.execution_count !== 1 || execution.error) {
    throw new Error('The first cell did not run as the first one');
  }
  await session.shutdown();
  return elapsed;
}

/**
 * Resolve when the injector next reports the kernel loaded.
 */
function nextLoaded(
  injector: KernelInjector,
  kernel: Kernel.IKernelConnection
): Promise<void> {
  return new Promise(resolve => {
    const listener = (_: unknown, change: KernelInjector.IStateChange) => {
      if (change.kernel === kernel && change.state.status === 'loaded') {
        injector.stateChanged.disconnect(listener);
        resolve();
      }
    };
    injector.stateChanged.connect(listener);
  });
}

async function main(): Promise<void> {
  const server = await startServer();
  const rows: string[][] = [];
  const changes: string[][] = [];
  const ids: string[] = [];
  try {
    // Warm up: the first kernel of a server starts slower.
    await firstCell(server, null, false);
    for (const size of SIZES) {
      while (ids.length < size) {
        const name = `BENCH_SECRET_${String(ids.length).padStart(4, '0')}`;
        ids.push((await server.client.create(name, apiKey())).id);
      }
      const { cache, injector } = await makeInjector(server);
      const times: Record<string, number[]> = {
        appearWithout: [],
        appearWith: [],
        readyWithout: [],
        readyWith: []
      };
      for (let i = 0; i < REPEAT; i++) {
        // Alternate, so that any drift of the machine hits both alike.
        times.appearWithout.push(await firstCell(server, null, false));
        times.appearWith.push(await firstCell(server, injector, false));
        times.readyWithout.push(await firstCell(server, null, true));
        times.readyWith.push(await firstCell(server, injector, true));
      }
      const m = Object.fromEntries(
        Object.entries(times).map(([key, values]) => [key, median(values)])
      );
      rows.push([
        String(size),
        m.appearWithout.toFixed(0),
        m.appearWith.toFixed(0),
        (m.appearWith / m.appearWithout).toFixed(2),
        m.readyWithout.toFixed(1),
        m.readyWith.toFixed(1),
        (m.readyWith / m.readyWithout).toFixed(2)
      ]);

      // A change of one secret reaching running kernels.
      for (const language of ['python3', 'bash']) {
        const session = await newSession(server, language);
        const kernel = session.kernel!;
        injector.watch(session, kernel);
        await execute(kernel, language === 'bash' ? 'true' : 'pass');
        const samples: number[] = [];
        for (let i = 0; i < REPEAT && size > 0; i++) {
          const meta = await server.client.get(ids[0]);
          const start = performance.now();
          await server.client.update(ids[0], {
            version: meta.version,
            value: apiKey()
          });
          const loaded = nextLoaded(injector, kernel);
          await cache.refresh();
          await loaded;
          samples.push(performance.now() - start);
        }
        changes.push([
          String(size),
          language,
          samples.length ? median(samples).toFixed(0) : '-'
        ]);
        await session.shutdown();
      }
      injector.dispose();
    }
  } finally {
    await server.stop();
  }

  const table = (header: string[], body: string[][]) =>
    [header, ...body].map(r => r.map(c => c.padStart(12)).join('')).join('\n');
  console.log(
    `First user cell of a new python3 kernel, median of ${REPEAT}, in ms\n`
  );
  console.log(
    table(
      [
        'secrets',
        'appear,off',
        'appear,on',
        'ratio',
        'ready,off',
        'ready,on',
        'ratio'
      ],
      rows
    )
  );
  console.log(
    '\nappear: from the kernel appearing (booting) to the reply of the first cell;' +
      '\nready: from the kernel answering kernel_info to that reply.\n'
  );
  console.log(
    `A change of one secret reaching a running kernel (edit, refetch, injection confirmed), median of ${REPEAT}, in ms\n`
  );
  console.log(table(['secrets', 'kernel', 'ms'], changes));
}

main().then(
  () => process.exit(0),
  error => {
    console.error(error);
    process.exit(1);
  }
);
