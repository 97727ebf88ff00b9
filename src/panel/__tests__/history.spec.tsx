import { Notification } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { nullTranslator } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { PromiseDelegate } from '@lumino/coreutils';

import { ISecretVersion, SecretsClient } from '../../api';
import { Answer, meta, mockServer } from '../../__tests__/fakes';
import { SecretsModel } from '../../model';
import { ISecretsChange } from '../../tokens';
import { HistoryBody, showHistoryDialog } from '../history';

const trans = nullTranslator.load('jupyterlab_secrets');

/**
 * A version of `api-key` as the server lists it.
 */
function version(n: number, current = false): ISecretVersion {
  return {
    version: n,
    updated_at: `2026-01-0${n}T10:00:00.000Z`,
    updated_by: n === 1 ? 'alice' : 'bob',
    current
  };
}

/**
 * A server keeping the versions of one secret, `api-key`, with an audit
 * log (or none, when `audit` is `null`). It records every URL asked for,
 * query string included.
 */
function fakeServer(audit: Answer | null = null) {
  const state = {
    secret: meta('api-key', { version: 3 }),
    versions: [version(3, true), version(2), version(1)]
  };
  const server = mockServer((method, path, body) => {
    const id = state.secret.id;
    if (method === 'GET' && path === 'secrets') {
      return {
        status: 200,
        body: { project: 'default', secrets: [state.secret] }
      };
    }
    if (method === 'GET' && path === `secrets/${id}/versions`) {
      return { status: 200, body: { versions: state.versions } };
    }
    if (method === 'GET' && path === 'audit') {
      return audit ?? { status: 404, body: { message: 'Not Found' } };
    }
    const restore = new RegExp(`^secrets/${id}/versions/(\\d+)/restore$`);
    const match = restore.exec(path);
    if (method === 'POST' && match) {
      if (JSON.parse(body).version !== state.secret.version) {
        return { status: 409, body: { message: 'The secret has changed.' } };
      }
      const next = state.secret.version + 1;
      state.versions = [
        version(next, true),
        ...state.versions.map(v => ({ ...v, current: false }))
      ];
      state.secret = { ...state.secret, version: next };
      return { status: 200, body: state.secret };
    }
    return { status: 500, body: { message: 'unexpected' } };
  });
  const urls: string[] = [];
  const inner = server.client.serverSettings.fetch;
  const settings = ServerConnection.makeSettings({
    baseUrl: 'http://localhost:8888/',
    fetch: ((input: RequestInfo | URL, init?: RequestInit) => {
      urls.push(input instanceof Request ? input.url : String(input));
      return inner(input as RequestInfo, init);
    }) as any
  });
  return { ...server, client: new SecretsClient(settings), state, urls };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await new Promise(resolve => setTimeout(resolve, 0));
    await new Promise(resolve => requestAnimationFrame(() => resolve(null)));
  }
}

/**
 * Render the History body of the server's secret.
 */
function renderBody(
  server: ReturnType<typeof fakeServer>,
  gate: Promise<void> = Promise.resolve()
) {
  const { client } = server;
  const restored: Array<[number, number]> = [];
  const body = new HistoryBody({
    load: async () => {
      await gate;
      return Promise.all([
        client.versions(server.state.secret.id),
        client.auditEvents(server.state.secret.id).catch(() => null)
      ]);
    },
    trans,
    onRestore: (v, current) => restored.push([v, current])
  });
  Widget.attach(body, document.body);
  return { body, restored };
}

/**
 * The buttons of the open dialog, by their text.
 */
function dialogButton(text: string): HTMLButtonElement {
  const dialogs = document.querySelectorAll('.jp-Dialog');
  const dialog = dialogs[dialogs.length - 1];
  const button = Array.from(dialog?.querySelectorAll('button') ?? []).find(
    b => b.textContent?.trim() === text
  );
  if (!button) {
    throw new Error(`No button "${text}" in the open dialog`);
  }
  return button as HTMLButtonElement;
}

/**
 * Open the History dialog of the server's secret through a model, as the
 * panel does, recording the changes the model tells its listeners.
 */
async function openHistory(server: ReturnType<typeof fakeServer>) {
  const model = new SecretsModel(server.client);
  await model.ready;
  const changes: ISecretsChange[] = [];
  model.changed.connect((_, change) => changes.push(change));
  const done = showHistoryDialog({ model, secret: model.secrets[0], trans });
  await settle();
  return {
    model,
    changes,
    /**
     * Click the Restore button of a version, which asks for confirmation.
     */
    async askToRestore(n: number): Promise<void> {
      document
        .querySelector(`li[aria-label="Version ${n}"] button`)!
        .dispatchEvent(new MouseEvent('click', { bubbles: true }));
      await settle();
    },
    /**
     * Close the dialog and dispose of the model.
     */
    async close(): Promise<void> {
      dialogButton('Close').click();
      await done;
      model.dispose();
    }
  };
}

describe('History', () => {
  afterEach(() => {
    document.body.innerHTML = '';
  });

  it('says "loading", then lists the versions with their date and author', async () => {
    const server = fakeServer();
    const gate = new PromiseDelegate<void>();
    const { body } = renderBody(server, gate.promise);
    await settle();
    expect(body.node.textContent).toContain('Loading the history…');

    gate.resolve();
    await settle();

    const entries = Array.from(
      body.node.querySelectorAll('li[aria-label^="Version"]')
    );
    expect(entries.map(e => e.getAttribute('aria-label'))).toEqual([
      'Version 3',
      'Version 2',
      'Version 1'
    ]);
    expect(entries[0].textContent).toContain('Version 3 (current)');
    expect(entries[2].textContent).toContain('by alice');
    expect(entries[1].textContent).toContain('by bob');
    expect(entries[2].querySelector('time')!.getAttribute('dateTime')).toBe(
      '2026-01-01T10:00:00.000Z'
    );
    // Only earlier versions can be restored
    expect(entries.map(e => !!e.querySelector('button'))).toEqual([
      false,
      true,
      true
    ]);
    body.dispose();
  });

  it('restores an earlier version over the current one', async () => {
    const server = fakeServer();
    const { body, restored } = renderBody(server);
    await settle();

    const entry = body.node.querySelector('li[aria-label="Version 1"]')!;
    entry.querySelector('button')!.click();

    expect(restored).toEqual([[1, 3]]);
    body.dispose();
  });

  it('says in words what a scan or a command did with the secret', async () => {
    const event = (id: string, action: string) => ({
      id,
      at: '2026-01-02T10:00:00.000Z',
      user: 'alice',
      project: 'default',
      action,
      secret_id: 'id-api-key',
      secret_name: 'api-key',
      detail: null
    });
    const server = fakeServer({
      status: 200,
      body: { events: [event('e2', 'scan'), event('e1', 'run')] }
    });
    const { body } = renderBody(server);
    await settle();

    const activity = body.node.querySelectorAll('section')[1];
    expect(
      Array.from(activity.querySelectorAll('li')).map(li => li.textContent)
    ).toEqual([
      expect.stringMatching(/^Looked for in files.*by alice$/),
      expect.stringMatching(/^Used by a command.*by alice$/)
    ]);
    body.dispose();
  });

  it('shows the audit events of the secret when the server keeps them', async () => {
    const server = fakeServer({
      status: 200,
      body: {
        events: [
          {
            id: 'e2',
            at: '2026-01-02T10:00:00.000Z',
            user: 'bob',
            project: 'default',
            action: 'reveal',
            secret_id: 'id-api-key',
            secret_name: 'api-key',
            detail: null
          },
          {
            id: 'e1',
            at: '2026-01-01T10:00:00.000Z',
            user: 'alice',
            project: 'default',
            action: 'create',
            secret_id: 'id-api-key',
            secret_name: 'api-key',
            detail: null
          }
        ]
      }
    });
    const { body } = renderBody(server);
    await settle();

    const activity = body.node.querySelectorAll('section')[1];
    expect(
      Array.from(activity.querySelectorAll('li')).map(li => li.textContent)
    ).toEqual([
      expect.stringMatching(/^Content shown.*by bob$/),
      expect.stringMatching(/^Created.*by alice$/)
    ]);
    expect(server.urls).toContainEqual(
      expect.stringMatching(
        /^http:\/\/localhost:8888\/jupyterlab-secrets\/api\/audit\?secret_id=id-api-key(&|$)/
      )
    );
    body.dispose();
  });

  it('says so quietly when the server keeps no audit log', async () => {
    const server = fakeServer(null);
    const { body } = renderBody(server);
    await settle();

    expect(body.node.textContent).toContain(
      'The activity log is not available on this server.'
    );
    expect(
      body.node.querySelectorAll('li[aria-label^="Version"]')
    ).toHaveLength(3);
    body.dispose();
  });

  it('asks for confirmation, then restores through the API and says so', async () => {
    // Given the History of a secret at version 3
    const server = fakeServer();
    const history = await openHistory(server);

    // When the user restores version 1 and confirms
    await history.askToRestore(1);
    expect(document.querySelector('.jp-Dialog-header')!.textContent).toBe(
      'Restore version 1?'
    );
    expect(
      server.requests.filter(r => r.method === 'POST').map(r => r.path)
    ).toEqual([]);
    dialogButton('Restore').click();
    await settle();

    // Then the server made version 4 from version 1, checked against 3
    expect(server.requests.filter(r => r.method === 'POST')).toEqual([
      {
        method: 'POST',
        path: 'secrets/id-api-key/versions/1/restore',
        body: JSON.stringify({ version: 3 })
      }
    ]);
    expect(history.model.secrets[0].version).toBe(4);
    expect(Notification.manager.notifications.map(n => n.message)).toContain(
      'Secret "api-key" has been restored to version 1'
    );
    // And the History shows again, with the new version current
    expect(
      document.querySelector('li[aria-label="Version 4"]')!.textContent
    ).toContain('Version 4 (current)');

    await history.close();
  });

  it('restores through the model, which tells its listeners', async () => {
    // Given the History of a secret, and a listener of the model, as the
    // kernels' status is
    const server = fakeServer();
    const history = await openHistory(server);

    // When the user restores version 2 and confirms
    await history.askToRestore(2);
    dialogButton('Restore').click();
    await settle();

    // Then the listener heard which secret was restored, once the list
    // held the new version
    expect(server.state.secret.version).toBe(4);
    expect(history.changes).toEqual([
      { type: 'refresh' },
      { type: 'restore', id: 'id-api-key' }
    ]);
    await history.close();
  });

  it('restores nothing when the user cancels', async () => {
    const server = fakeServer();
    const history = await openHistory(server);

    await history.askToRestore(2);
    dialogButton('Cancel').click();
    await settle();

    expect(server.requests.filter(r => r.method === 'POST')).toEqual([]);
    expect(server.state.secret.version).toBe(3);
    await history.close();
  });
});
