/**
 * The injector against bash_kernel, and against a kernel in a language it
 * does not know.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { Kernel, KernelMessage, Session } from '@jupyterlab/services';

import { EnvironmentCache } from '../src/injector/cache';
import { utf8ToBase64 } from '../src/injector/generators';
import { KernelInjector } from '../src/injector/injector';
import { trickyValues } from '../src/injector/__tests__/values';
import {
  execute,
  hex,
  IExecution,
  IInjectionFixture,
  ITestServer,
  startInjectionFixture
} from './server';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { jupyterCommand } = require('./commands');

const marker = path.join(
  os.tmpdir(),
  `secrets-injection-marker-bash-${process.pid}-${Date.now()}`
);
const secrets: Record<string, string> = {
  ...trickyValues(marker),
  'my-api-key': 'hyphens cannot be exported',
  LIVE_CHANGED: 'before',
  LIVE_DELETED: 'deleted soon'
};
const names = Object.keys(secrets).sort();
const exportable = names.filter(name => !name.includes('-'));

let fixture: IInjectionFixture | undefined;
let server: ITestServer;
let cache: EnvironmentCache;
let injector: KernelInjector;
let ids: Record<string, string>;

beforeAll(async () => {
  fixture = await startInjectionFixture(secrets, {
    echo: {
      argv: [
        jupyterCommand('python'),
        path.join(__dirname, 'echo_kernel.py'),
        '-f',
        '{connection_file}'
      ],
      display_name: 'Echo',
      language: 'echo'
    }
  });
  ({ server, cache, injector, ids } = fixture);
});

afterAll(async () => {
  await fixture?.stop();
});

function startSession(kernel: string): Promise<Session.ISessionConnection> {
  return fixture!.startSession(kernel);
}

function closeSession(session: Session.ISessionConnection): Promise<void> {
  return fixture!.closeSession(session);
}

/**
 * A bash cell that prints `name=<hex of printenv's output>` per secret.
 */
const PRINTENV = [
  `for n in ${names.join(' ')}; do`,
  `  printf '%s=' "$n"; printenv "$n" | od -An -v -tx1 | tr -d ' \\n'; echo`,
  'done'
].join('\n');

function printed(execution: IExecution): Record<string, string> {
  return Object.fromEntries(
    execution.stdout
      .trim()
      .split(/\r?\n/)
      .map(line => line.split('='))
  );
}

function wrongSecrets(execution: IExecution): string[] {
  const seen = printed(execution);
  return exportable.filter(name => seen[name] !== hex(secrets[name] + '\n'));
}

describe('bash_kernel', () => {
  it('runs its first cell with every exportable secret set, byte for byte', async () => {
    const closing: Promise<void>[] = [];
    // bash_kernel takes seconds to start: three are enough here; the
    // Python tests repeat this twenty times.
    for (let i = 0; i < 3; i++) {
      const session = await startSession('bash');
      injector.watch(session, session.kernel);
      const execution = await execute(session.kernel!, PRINTENV);

      expect(execution.reply.status).toBe('ok');
      expect(execution.reply.execution_count).toBe(1);
      expect(wrongSecrets(execution)).toEqual([]);
      // bash cannot export a hyphenated name: it is left out, and said so
      expect(printed(execution)['my-api-key']).toBe('');
      const state = injector.stateOf(session.kernel!);
      expect(state?.status).toBe('loaded');
      expect(state?.skipped).toEqual(['my-api-key']);
      expect(state?.names).toEqual(exportable);
      closing.push(closeSession(session));
    }
    await Promise.all(closing);
  });

  describe('a running kernel', () => {
    let session: Session.ISessionConnection;
    let kernel: Kernel.IKernelConnection;

    beforeAll(async () => {
      session = await startSession('bash');
      injector.watch(session, session.kernel);
      kernel = session.kernel!;
      await execute(kernel, 'echo canary-7781');
      await injector.inject(kernel);
      await injector.inject(kernel);
    });

    afterAll(async () => {
      await closeSession(session);
    });

    it('keeps every value out of the shell history, which stays on', async () => {
      const execution = await execute(
        kernel,
        '[[ -o history ]] && echo history-on; HISTTIMEFORMAT= history'
      );
      const history = execution.stdout;

      expect(history).toContain('history-on');
      expect(history).toContain('echo canary-7781');
      for (const text of [
        'jupyterlab_secrets',
        '__jls',
        'base64 -d',
        'set +o history'
      ]) {
        expect(history).not.toContain(text);
      }
      for (const value of Object.values(secrets)) {
        expect(history.includes(value)).toBe(false);
        expect(history.includes(utf8ToBase64(value))).toBe(false);
      }
    });

    it('leaves no shell variable or function behind', async () => {
      const execution = await execute(
        kernel,
        "(set -o posix; set) | grep -c -e '^__jls' -e '^__jupyterlab'; declare -F | grep -c jupyterlab"
      );
      expect(execution.stdout.trim().split(/\r?\n/)).toEqual(['0', '0']);
    });

    it('leaves history off when the user turned it off', async () => {
      await execute(kernel, 'set +o history');
      await injector.inject(kernel);
      const execution = await execute(
        kernel,
        '[[ -o history ]] && echo on || echo off'
      );
      await execute(kernel, 'set -o history');
      expect(execution.stdout.trim()).toBe('off');
    });

    it('runs the first cell after a restart with every secret set', async () => {
      await kernel.restart();
      const execution = await execute(kernel, PRINTENV);

      expect(execution.reply.execution_count).toBe(1);
      expect(wrongSecrets(execution)).toEqual([]);
    });

    it('never runs a value as code', () => {
      expect(fs.existsSync(marker)).toBe(false);
    });

    it('gets a change at once, and loses what is gone', async () => {
      // bash_kernel types the code into bash's line editor, which takes
      // about half a second for a 64 KiB value: that one goes too.
      const changed = await server.client.get(ids.LIVE_CHANGED);
      await server.client.update(ids.LIVE_CHANGED, {
        version: changed.version,
        value: 'after'
      });
      await server.client.remove(ids.LIVE_DELETED);
      await server.client.remove(ids.TRICKY_BIG);
      // (How long this takes is measured in bench/, not asserted here.)
      await cache.refresh();
      const execution = await execute(
        kernel,
        'echo "${LIVE_CHANGED}|${LIVE_DELETED-unset}|${TRICKY_BIG-unset}"'
      );

      expect(execution.stdout.trim()).toBe('after|unset|unset');
    });
  });
});

describe('a kernel in another language', () => {
  it('gets nothing, and says secrets are not available', async () => {
    const session = await startSession('echo');
    const kernel = session.kernel!;
    const sent: KernelMessage.IMessage[] = [];
    kernel.anyMessage.connect((_, { msg, direction }) => {
      if (direction === 'send' && msg.header.msg_type === 'execute_request') {
        sent.push(msg);
      }
    });
    injector.watch(session, kernel);
    const execution = await execute(kernel, 'hello');
    await injector.inject(kernel);

    expect(execution.stdout).toBe('hello');
    expect(execution.reply.execution_count).toBe(1);
    expect(sent).toHaveLength(1);
    expect(injector.stateOf(kernel)).toMatchObject({
      status: 'unsupported',
      language: 'echo',
      names: []
    });
    await closeSession(session);
  });
});
