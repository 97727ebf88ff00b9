/**
 * The server's injection against bash_kernel, and against a kernel in a
 * language it does not know; kernels started through the REST API.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { Kernel, KernelMessage, Session } from '@jupyterlab/services';

import {
  execute,
  hex,
  IExecution,
  IServerFixture,
  SecretsRest,
  startFixture,
  waitFor
} from './server';
import { trickyValues } from './values';

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

let fixture: IServerFixture | undefined;
let rest: SecretsRest;
let ids: Record<string, string>;

beforeAll(async () => {
  fixture = await startFixture(secrets, {
    // bash_kernel's kernelspec is not part of a plain `pip install`.
    bash: {
      argv: [
        jupyterCommand('python'),
        '-m',
        'bash_kernel',
        '-f',
        '{connection_file}'
      ],
      display_name: 'Bash',
      language: 'bash'
    },
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
  ({ rest, ids } = fixture);
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
      const execution = await execute(session.kernel!, PRINTENV);

      expect(execution.reply.status).toBe('ok');
      expect(execution.reply.execution_count).toBe(1);
      expect(wrongSecrets(execution)).toEqual([]);
      // bash cannot export a hyphenated name: it is left out, and said so
      expect(printed(execution)['my-api-key']).toBe('');
      const state = await rest.kernel(session.kernel!.id);
      expect(state.state).toBe('loaded');
      expect(state.language).toBe('bash');
      expect(state.skipped.map(s => s.name)).toEqual(['my-api-key']);
      expect(state.skipped[0].reason).toContain('hyphen');
      expect(state.names).toEqual(exportable);
      closing.push(closeSession(session));
    }
    await Promise.all(closing);
  });

  describe('a running kernel', () => {
    let session: Session.ISessionConnection;
    let kernel: Kernel.IKernelConnection;

    beforeAll(async () => {
      session = await startSession('bash');
      kernel = session.kernel!;
      await execute(kernel, 'echo canary-7781');
      expect((await rest.reload(kernel.id)).state).toBe('loaded');
      expect((await rest.reload(kernel.id)).state).toBe('loaded');
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
        expect(
          history.includes(Buffer.from(value, 'utf8').toString('base64'))
        ).toBe(false);
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
      await rest.reload(kernel.id);
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
      await rest.update(ids.LIVE_CHANGED, { value: 'after' });
      await rest.remove(ids.LIVE_DELETED);
      await rest.remove(ids.TRICKY_BIG);
      // (How long this takes is measured in bench/, not asserted here.)
      await waitFor(async () => {
        const state = await rest.kernel(kernel.id);
        return state.state === 'loaded' && !state.names.includes('TRICKY_BIG');
      }, 60000);
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
    const iopub: KernelMessage.IIOPubMessage[] = [];
    kernel.iopubMessage.connect((_, msg) => {
      iopub.push(msg);
    });
    const execution = await execute(kernel, 'hello');
    const state = await rest.reload(kernel.id);

    expect(execution.stdout).toBe('hello');
    expect(execution.reply.execution_count).toBe(1);
    // No code but the user's cell ran in it
    const executions = iopub
      .map(msg => msg.parent_header as any)
      .filter(parent => parent.msg_type === 'execute_request')
      .map(parent => parent.msg_id);
    expect(new Set(executions)).toEqual(new Set([execution.msgId]));
    expect(state).toMatchObject({
      state: 'unsupported',
      language: 'echo',
      names: []
    });
    // (the bash tests above deleted a few)
    expect(state.skipped.map(s => s.name)).toEqual(
      expect.arrayContaining(['LIVE_CHANGED', 'my-api-key', 'TRICKY_QUOTES'])
    );
    expect(state.message).toContain('echo');
    await closeSession(session);
  });
});
