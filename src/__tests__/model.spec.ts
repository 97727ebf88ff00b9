import { ServerConnection } from '@jupyterlab/services';
import { PromiseDelegate } from '@lumino/coreutils';

import { ISecretMeta, SecretsAPIError, SecretsClient } from '../api';
import { SecretsModel } from '../model';
import { ISecretsChange } from '../tokens';
import { Answer, meta, mockServer } from './fakes';

/**
 * A server keeping a list of secrets in memory, values apart.
 */
function fakeStore(initial: ISecretMeta[] = []) {
  const secrets = [...initial];
  const values = new Map<string, string>();
  let failList: Answer | null = null;
  const server = mockServer((method, path) => {
    if (method === 'GET' && path === 'secrets') {
      return failList ?? { status: 200, body: { project: 'default', secrets } };
    }
    return { status: 500, body: { message: 'unexpected' } };
  });
  return {
    ...server,
    secrets,
    values,
    failListWith(answer: Answer | null) {
      failList = answer;
    }
  };
}

describe('SecretsModel', () => {
  it('lists the project and its secrets on start, and says so', async () => {
    // Given a server with one own and one shared secret
    const store = fakeStore([
      meta('own-key'),
      meta('team-key', { origin: 'shared', project: 'other', editable: false })
    ]);

    // When the model starts
    const model = new SecretsModel(store.client);
    const changes: ISecretsChange[] = [];
    model.changed.connect((_, change) => changes.push(change));
    await model.ready;

    // Then it holds the project and both secrets, and no error
    expect(model.project).toBe('default');
    expect(model.secrets.map(s => s.name)).toEqual(['own-key', 'team-key']);
    expect(model.error).toBeNull();
    expect(changes).toEqual([{ type: 'refresh' }]);
    model.dispose();
  });

  it('hands a revealed value to the caller and keeps none of it', async () => {
    // Given a server that reveals a value
    const requests: string[] = [];
    const { client } = mockServer((method, path) => {
      requests.push(`${method} ${path}`);
      if (path === 'secrets/id-api-key/reveal') {
        return { status: 200, body: { value: 's3cr3t-value' } };
      }
      if (path === 'secrets/id-api-key') {
        return { status: 200, body: meta('api-key', { version: 2 }) };
      }
      return {
        status: 200,
        body: { project: 'default', secrets: [meta('api-key')] }
      };
    });
    const model = new SecretsModel(client);
    await model.ready;
    const changes: ISecretsChange[] = [];
    model.changed.connect((_, change) => changes.push(change));

    // When a form asks for the value and the metadata as now stored
    const value = await model.reveal('id-api-key');
    const current = await model.get('id-api-key');

    // Then they come from the API, change nothing, and the model holds no value
    expect(value).toBe('s3cr3t-value');
    expect(current.version).toBe(2);
    expect(requests).toContain('POST secrets/id-api-key/reveal');
    expect(changes).toEqual([]);
    expect(JSON.stringify(model.secrets)).not.toContain('s3cr3t-value');
    expect('client' in model).toBe(false);
    model.dispose();
  });

  it('names only its own secrets as taken', async () => {
    const store = fakeStore([
      meta('own-key'),
      meta('team-key', { origin: 'shared', project: 'other', editable: false })
    ]);
    const model = new SecretsModel(store.client);
    await model.ready;

    expect(model.ownNames()).toEqual(new Set(['own-key']));
    model.dispose();
  });

  it('creates through the API, refreshes, and keeps no value', async () => {
    // Given a server that accepts a new secret
    const created = meta('new-key');
    let listed: ISecretMeta[] = [];
    const server = mockServer((method, path) => {
      if (method === 'POST' && path === 'secrets') {
        listed = [created];
        return { status: 201, body: created };
      }
      return { status: 200, body: { project: 'default', secrets: listed } };
    });
    const model = new SecretsModel(server.client);
    await model.ready;
    const changes: ISecretsChange[] = [];
    model.changed.connect((_, change) => changes.push(change));

    // When a secret is created with a multi-line value
    const answer = await model.create('new-key', 'line one\nline two');

    // Then the value went to the server once, and the list was fetched anew
    expect(answer).toEqual(created);
    const post = server.requests.find(r => r.method === 'POST')!;
    expect(JSON.parse(post.body)).toEqual({
      name: 'new-key',
      value: 'line one\nline two'
    });
    expect(server.requests.map(r => `${r.method} ${r.path}`)).toEqual([
      'GET secrets',
      'POST secrets',
      'GET secrets'
    ]);
    expect(model.secrets).toEqual([created]);
    expect(changes).toEqual([
      { type: 'refresh' },
      { type: 'create', id: 'id-new-key' }
    ]);
    // And the model holds metadata only
    expect(JSON.stringify(model.secrets)).not.toContain('line one');
    model.dispose();
  });

  it('updates with the version and only the given fields', async () => {
    const server = mockServer((method, path) => {
      if (method === 'PATCH') {
        return { status: 200, body: meta('renamed', { version: 3 }) };
      }
      return { status: 200, body: { project: 'default', secrets: [] } };
    });
    const model = new SecretsModel(server.client);
    await model.ready;

    await model.update('id-key', { version: 2, name: 'renamed' });

    const patch = server.requests.find(r => r.method === 'PATCH')!;
    expect(patch.path).toBe('secrets/id-key');
    expect(JSON.parse(patch.body)).toEqual({ version: 2, name: 'renamed' });
    model.dispose();
  });

  it('refreshes after a conflict and hands the refusal on', async () => {
    // Given a secret changed elsewhere
    const server = mockServer((method, path) => {
      if (method === 'PATCH') {
        return {
          status: 409,
          body: { message: 'This secret was changed.', field: 'version' }
        };
      }
      return {
        status: 200,
        body: { project: 'default', secrets: [meta('key', { version: 2 })] }
      };
    });
    const model = new SecretsModel(server.client);
    await model.ready;
    const changes: ISecretsChange[] = [];
    model.changed.connect((_, change) => changes.push(change));

    // When an update is sent with a stale version
    const error = await model
      .update('id-key', { version: 1, value: 'typed' })
      .catch(e => e);

    // Then the refusal comes back whole, and the list was fetched again
    expect(error).toBeInstanceOf(SecretsAPIError);
    expect(error.status).toBe(409);
    expect(error.field).toBe('version');
    expect(server.requests.map(r => `${r.method} ${r.path}`)).toEqual([
      'GET secrets',
      'PATCH secrets/id-key',
      'GET secrets'
    ]);
    expect(changes).toEqual([{ type: 'refresh' }]);
    model.dispose();
  });

  it('does not refresh after a refusal that changed nothing', async () => {
    const server = mockServer((method, path) => {
      if (method === 'POST') {
        return {
          status: 400,
          body: {
            message: 'Name must start with a Latin letter.',
            field: 'name'
          }
        };
      }
      return { status: 200, body: { project: 'default', secrets: [] } };
    });
    const model = new SecretsModel(server.client);
    await model.ready;

    const error = await model.create('1-bad', 'v').catch(e => e);

    expect(error.status).toBe(400);
    expect(error.message).toBe('Name must start with a Latin letter.');
    expect(server.requests).toHaveLength(2);
    model.dispose();
  });

  it('reports a list error and keeps the last list until it clears', async () => {
    // Given a model that listed one secret
    const store = fakeStore([meta('kept-key')]);
    const model = new SecretsModel(store.client);
    await model.ready;

    // When the server becomes unavailable
    store.failListWith({
      status: 503,
      body: {
        message: 'The master key is missing: set JUPYTERLAB_SECRETS_KEY.'
      }
    });
    await model.refresh();

    // Then the error carries the server's message, and the list stays
    expect(model.error?.status).toBe(503);
    expect(model.error?.message).toBe(
      'The master key is missing: set JUPYTERLAB_SECRETS_KEY.'
    );
    expect(model.secrets.map(s => s.name)).toEqual(['kept-key']);

    // When the server is back, the error clears
    store.failListWith(null);
    await model.refresh();
    expect(model.error).toBeNull();
    model.dispose();
  });

  it('turns a network failure into a readable error', async () => {
    const store = fakeStore();
    store.failListWith(new TypeError('Failed to fetch'));
    const model = new SecretsModel(store.client);
    await model.ready;

    expect(model.error).toBeInstanceOf(SecretsAPIError);
    expect(model.error?.status).toBe(0);
    expect(model.error?.message).toContain('could not be reached');
    expect(model.project).toBeNull();
    model.dispose();
  });

  it('keeps the newest list when answers arrive out of order', async () => {
    // Given a server whose answers the test releases one by one
    const pending: Array<{
      answer: PromiseDelegate<Response>;
      secrets: ISecretMeta[];
    }> = [];
    let round = 0;
    const fetchMock = jest.fn(() => {
      const answer = new PromiseDelegate<Response>();
      pending.push({ answer, secrets: [meta(`round-${round++}`)] });
      return answer.promise;
    });
    const client = new SecretsClient(
      ServerConnection.makeSettings({ fetch: fetchMock as any })
    );
    const respond = (index: number) =>
      pending[index].answer.resolve(
        new Response(
          JSON.stringify({
            project: 'default',
            secrets: pending[index].secrets
          }),
          { status: 200 }
        )
      );
    // The model sends a request a timer turn after it is asked for.
    const sent = async (count: number) => {
      while (pending.length < count) {
        await new Promise(resolve => setTimeout(resolve, 0));
      }
    };
    const model = new SecretsModel(client);
    await sent(1);
    respond(0);
    await model.ready;

    // When two refreshes overlap and are answered newest first
    const older = model.refresh();
    await sent(2);
    const newer = model.refresh();
    await sent(3);
    respond(2);
    await newer;
    respond(1);
    await older;

    // Then the newest answer stays
    expect(model.secrets.map(s => s.name)).toEqual(['round-2']);

    // And when the older of two overlapping answers comes first, the
    // newer still wins
    const first = model.refresh();
    await sent(4);
    const second = model.refresh();
    await sent(5);
    respond(3);
    await new Promise(resolve => setTimeout(resolve, 0));
    respond(4);
    await Promise.all([first, second]);
    expect(model.secrets.map(s => s.name)).toEqual(['round-4']);
    model.dispose();
  });

  it('sends one request for the refreshes asked for in one turn', async () => {
    // Given a model that listed its secrets
    const store = fakeStore([meta('key')]);
    const model = new SecretsModel(store.client);
    await model.ready;
    const changes: ISecretsChange[] = [];
    model.changed.connect((_, change) => changes.push(change));

    // When the panel and a poll both ask for the list at once
    store.secrets.push(meta('other-key'));
    await Promise.all([model.refresh(), model.refresh()]);

    // Then one request went out, and listeners heard of its answer once
    expect(store.requests.map(r => `${r.method} ${r.path}`)).toEqual([
      'GET secrets',
      'GET secrets'
    ]);
    expect(model.secrets.map(s => s.name)).toEqual(['key', 'other-key']);
    expect(changes).toEqual([{ type: 'refresh' }]);
    model.dispose();
  });

  it('tells which secret a delete, copy, add or remove was about', async () => {
    const copy = meta('copy-key', { id: 'id-copy' });
    const shared = meta('team-key', {
      id: 'id-team',
      origin: 'shared',
      editable: false
    });
    const server = mockServer((method, path) => {
      if (method === 'DELETE' && path === 'secrets/id-key') {
        return { status: 204 };
      }
      if (method === 'POST' && path === 'secrets/id-key/copy') {
        return { status: 201, body: copy };
      }
      if (path === 'secrets/id-team/attachment') {
        return method === 'PUT'
          ? { status: 200, body: { ...shared, attached: true } }
          : { status: 200, body: shared };
      }
      return { status: 200, body: { project: 'default', secrets: [] } };
    });
    const model = new SecretsModel(server.client);
    await model.ready;
    const changes: ISecretsChange[] = [];
    model.changed.connect((_, change) => {
      if (change.type !== 'refresh') {
        changes.push(change);
      }
    });

    await model.copy('id-key', 'copy-key');
    await model.remove('id-key');
    await model.attach('id-team');
    await model.detach('id-team');

    expect(changes).toEqual([
      { type: 'copy', id: 'id-copy' },
      { type: 'delete', id: 'id-key' },
      { type: 'attach', id: 'id-team' },
      { type: 'detach', id: 'id-team' }
    ]);
    const copyRequest = server.requests.find(r => r.path.endsWith('/copy'))!;
    expect(JSON.parse(copyRequest.body)).toEqual({ name: 'copy-key' });
    model.dispose();
  });

  it('restores a version through the API, refreshes, and says so', async () => {
    // Given a secret at version 3 whose earlier versions are kept
    let listed = meta('api-key', { version: 3 });
    const server = mockServer((method, path) => {
      if (
        method === 'POST' &&
        path === 'secrets/id-api-key/versions/1/restore'
      ) {
        listed = { ...listed, version: 4 };
        return { status: 200, body: listed };
      }
      return { status: 200, body: { project: 'default', secrets: [listed] } };
    });
    const model = new SecretsModel(server.client);
    await model.ready;
    const changes: ISecretsChange[] = [];
    model.changed.connect((_, change) => changes.push(change));

    // When version 1 is restored over version 3
    const answer = await model.restore('id-api-key', 1, 3);

    // Then the server checked it against version 3, the list holds the
    // new version, and listeners heard which secret was restored
    expect(answer.version).toBe(4);
    const post = server.requests.find(r => r.method === 'POST')!;
    expect(JSON.parse(post.body)).toEqual({ version: 3 });
    expect(model.secrets[0].version).toBe(4);
    expect(changes).toEqual([
      { type: 'refresh' },
      { type: 'restore', id: 'id-api-key' }
    ]);
    model.dispose();
  });

  it('refreshes after a stale restore, and tells of no restore', async () => {
    // Given a secret restored elsewhere meanwhile
    const server = mockServer((method, path) => {
      if (method === 'POST') {
        return { status: 409, body: { message: 'The secret has changed.' } };
      }
      return {
        status: 200,
        body: { project: 'default', secrets: [meta('api-key', { version: 4 })] }
      };
    });
    const model = new SecretsModel(server.client);
    await model.ready;
    const changes: ISecretsChange[] = [];
    model.changed.connect((_, change) => changes.push(change));

    // When a restore is sent against the old version
    const error = await model.restore('id-api-key', 1, 3).catch(e => e);

    // Then the refusal comes back, the list was fetched again, and no
    // restore is announced
    expect(error.status).toBe(409);
    expect(server.requests.map(r => `${r.method} ${r.path}`)).toEqual([
      'GET secrets',
      'POST secrets/id-api-key/versions/1/restore',
      'GET secrets'
    ]);
    expect(changes.map(c => c.type)).not.toContain('restore');
    model.dispose();
  });

  it('asks for history and kernels without announcing a change', async () => {
    const server = mockServer((method, path) => {
      if (path === 'secrets/id-api-key/versions') {
        return { status: 200, body: { versions: [] } };
      }
      if (path === 'audit') {
        return { status: 200, body: { events: [] } };
      }
      if (path.startsWith('kernels/k1')) {
        return {
          status: 200,
          body: {
            kernel_id: 'k1',
            language: 'python',
            state: 'loaded',
            names: [],
            skipped: [],
            message: null
          }
        };
      }
      return { status: 200, body: { project: 'default', secrets: [] } };
    });
    const model = new SecretsModel(server.client);
    await model.ready;
    const changes: ISecretsChange[] = [];
    model.changed.connect((_, change) => changes.push(change));

    expect(await model.versions('id-api-key')).toEqual([]);
    expect(await model.auditEvents('id-api-key')).toEqual([]);
    expect((await model.kernelSecrets('k1')).state).toBe('loaded');
    expect((await model.reloadKernel('k1')).state).toBe('loaded');

    expect(server.requests.map(r => `${r.method} ${r.path}`)).toEqual([
      'GET secrets',
      'GET secrets/id-api-key/versions',
      'GET audit',
      'GET kernels/k1',
      'POST kernels/k1/reload'
    ]);
    expect(changes).toEqual([]);
    model.dispose();
  });

  it('is silent once disposed', async () => {
    const store = fakeStore([meta('key')]);
    const model = new SecretsModel(store.client);
    await model.ready;
    const changes: ISecretsChange[] = [];
    model.changed.connect((_, change) => changes.push(change));

    model.dispose();
    await model.refresh();

    expect(model.isDisposed).toBe(true);
    expect(changes).toEqual([]);
  });

  it('polls with the entity tag and stays silent while nothing changed', async () => {
    // Given a server that tags its list and answers 304 while it holds
    let version = 1;
    let failing = false;
    const tags: Array<string | null> = [];
    const fetchMock = jest.fn(async (input: RequestInfo | URL) => {
      const tag = (input as Request).headers.get('If-None-Match');
      tags.push(tag);
      if (failing) {
        return new Response(JSON.stringify({ message: 'Unavailable.' }), {
          status: 503
        });
      }
      const etag = `"v${version}"`;
      if (tag === etag) {
        return new Response(null, { status: 304, headers: { ETag: etag } });
      }
      const body = {
        project: 'default',
        secrets: [meta(`key-${version}`)]
      };
      return new Response(JSON.stringify(body), {
        status: 200,
        headers: { ETag: etag }
      });
    });
    const client = new SecretsClient(
      ServerConnection.makeSettings({ fetch: fetchMock as any })
    );
    const model = new SecretsModel(client);
    await model.ready;
    const changes: ISecretsChange[] = [];
    model.changed.connect((_, change) => changes.push(change));
    const listed = model.secrets;

    // When nothing changed, a refresh keeps the list and tells no one
    await model.refresh();
    expect(tags).toEqual([null, '"v1"']);
    expect(model.secrets).toBe(listed);
    expect(changes).toEqual([]);

    // When the list changed, the new one comes with its tag
    version = 2;
    await model.refresh();
    await model.refresh();
    expect(tags.slice(2)).toEqual(['"v1"', '"v2"']);
    expect(model.secrets.map(s => s.name)).toEqual(['key-2']);
    expect(changes).toEqual([{ type: 'refresh' }]);

    // When an error clears with a 304, listeners hear of it
    failing = true;
    await model.refresh();
    expect(model.error?.status).toBe(503);
    failing = false;
    await model.refresh();
    expect(model.error).toBeNull();
    expect(model.secrets.map(s => s.name)).toEqual(['key-2']);
    expect(changes).toHaveLength(3);
    model.dispose();
  });
});
