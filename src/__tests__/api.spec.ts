import { ServerConnection } from '@jupyterlab/services';

import { SecretsAPIError, SecretsClient } from '../api';

/**
 * A client whose REST layer answers from a queue, recording each request.
 */
function mockClient(answers: Array<{ status: number; body?: unknown }>) {
  const requests: Array<{
    url: string;
    href: string;
    method: string;
    body: string | null;
  }> = [];
  const fetchMock = jest.fn(
    async (input: RequestInfo | URL, init?: RequestInit) => {
      const request = input instanceof Request ? input : null;
      const href = request ? request.url : String(input);
      requests.push({
        // ServerConnection appends a cache-busting query; keep the path.
        url: href.split('?')[0],
        href,
        method: (request?.method ?? init?.method ?? 'GET').toUpperCase(),
        body: request ? await request.text() : ((init?.body as string) ?? null)
      });
      const answer = answers.shift() ?? { status: 500 };
      return new Response(
        answer.body === undefined ? null : JSON.stringify(answer.body),
        { status: answer.status }
      );
    }
  );
  const settings = ServerConnection.makeSettings({
    baseUrl: 'http://localhost:8888/base/',
    fetch: fetchMock as any
  });
  return { client: new SecretsClient(settings), requests };
}

const meta = {
  id: 'abc123',
  name: 'my-api-key',
  project: 'default',
  created_by: 'alice',
  created_at: '2026-01-01T00:00:00+00:00',
  updated_at: '2026-01-01T00:00:00+00:00',
  version: 1,
  shared_with: [],
  origin: 'project',
  attached: false,
  editable: true
};

describe('SecretsClient', () => {
  it('creates a secret with a JSON body under the base URL', async () => {
    const { client, requests } = mockClient([{ status: 201, body: meta }]);

    const created = await client.create('my-api-key', 'line1\nline2');

    expect(created).toEqual(meta);
    expect(requests[0].url).toBe(
      'http://localhost:8888/base/jupyterlab-secrets/api/secrets'
    );
    expect(requests[0].method).toBe('POST');
    expect(JSON.parse(requests[0].body!)).toEqual({
      name: 'my-api-key',
      value: 'line1\nline2'
    });
  });

  it('sends the version with a patch and escapes the ID in the URL', async () => {
    const { client, requests } = mockClient([{ status: 200, body: meta }]);

    await client.update('a/b', { version: 3, name: 'other-name' });

    expect(requests[0].url).toMatch(/\/secrets\/a%2Fb$/);
    expect(requests[0].method).toBe('PATCH');
    expect(JSON.parse(requests[0].body!)).toEqual({
      version: 3,
      name: 'other-name'
    });
  });

  it('reveals a value through POST, never in the URL', async () => {
    const { client, requests } = mockClient([
      { status: 200, body: { value: 's3cr3t' } }
    ]);

    expect(await client.reveal('abc123')).toBe('s3cr3t');
    expect(requests[0].method).toBe('POST');
    expect(requests[0].url).toMatch(/\/secrets\/abc123\/reveal$/);
    expect(requests[0].url).not.toContain('s3cr3t');
  });

  it('copies with or without a new value', async () => {
    const { client, requests } = mockClient([
      { status: 201, body: meta },
      { status: 201, body: meta }
    ]);

    await client.copy('abc123', 'copy-one');
    await client.copy('abc123', 'copy-two', 'new');

    expect(JSON.parse(requests[0].body!)).toEqual({ name: 'copy-one' });
    expect(JSON.parse(requests[1].body!)).toEqual({
      name: 'copy-two',
      value: 'new'
    });
  });

  it('turns an error answer into a SecretsAPIError with the server message', async () => {
    const { client } = mockClient([
      {
        status: 409,
        body: { message: 'The secret was changed elsewhere.', field: 'version' }
      }
    ]);

    const error = await client
      .update('abc123', { version: 1, value: 'x' })
      .catch(e => e);

    expect(error).toBeInstanceOf(SecretsAPIError);
    expect(error.status).toBe(409);
    expect(error.message).toBe('The secret was changed elsewhere.');
    expect(error.field).toBe('version');
  });

  it('explains an error answer that has no JSON body', async () => {
    const { client } = mockClient([{ status: 502 }]);

    const error = await client.list().catch(e => e);

    expect(error).toBeInstanceOf(SecretsAPIError);
    expect(error.status).toBe(502);
    expect(error.message).toMatch(/502/);
  });

  it('accepts a 204 without a body on delete', async () => {
    const { client, requests } = mockClient([{ status: 204 }]);

    await expect(client.remove('abc123')).resolves.toBeUndefined();
    expect(requests[0].method).toBe('DELETE');
  });

  it('has no way to fetch every value at once', () => {
    // Only a form the user opened asks for a value, one secret at a time.
    const { client } = mockClient([]);
    const methods = Object.getOwnPropertyNames(
      Object.getPrototypeOf(client)
    ).filter(name => /environment/i.test(name));

    expect(methods).toEqual([]);
  });

  it('asks for the versions and the audit events of a secret', async () => {
    const version = {
      version: 2,
      updated_at: '2026-01-02T00:00:00+00:00',
      updated_by: 'bob',
      current: true
    };
    const event = {
      id: 'e1',
      at: '2026-01-02T00:00:00+00:00',
      user: 'bob',
      project: 'default',
      action: 'update',
      secret_id: 'a/b',
      secret_name: 'my-api-key',
      detail: null
    };
    const { client, requests } = mockClient([
      { status: 200, body: { versions: [version] } },
      { status: 200, body: { events: [event] } }
    ]);

    expect(await client.versions('a/b')).toEqual([version]);
    expect(await client.auditEvents('a/b')).toEqual([event]);

    expect(requests.map(r => r.method)).toEqual(['GET', 'GET']);
    expect(requests[0].url).toBe(
      'http://localhost:8888/base/jupyterlab-secrets/api/secrets/a%2Fb/versions'
    );
    expect(requests[1].href).toMatch(
      /^http:\/\/localhost:8888\/base\/jupyterlab-secrets\/api\/audit\?secret_id=a%2Fb(&|$)/
    );
  });

  it('restores a version, checked against the current one', async () => {
    const { client, requests } = mockClient([
      { status: 200, body: { ...meta, version: 4 } }
    ]);

    const restored = await client.restore('abc123', 1, 3);

    expect(restored.version).toBe(4);
    expect(requests[0].method).toBe('POST');
    expect(requests[0].url).toMatch(/\/secrets\/abc123\/versions\/1\/restore$/);
    expect(JSON.parse(requests[0].body!)).toEqual({ version: 3 });
  });

  it("asks for a kernel's secrets, and reloads them with POST", async () => {
    const kernel = {
      kernel_id: 'k/1',
      language: 'python',
      state: 'loaded',
      names: ['A_KEY'],
      skipped: [],
      message: null
    };
    const { client, requests } = mockClient([
      { status: 200, body: kernel },
      { status: 200, body: kernel }
    ]);

    expect(await client.kernelSecrets('k/1')).toEqual(kernel);
    expect(await client.reloadKernel('k/1')).toEqual(kernel);

    expect(requests.map(r => `${r.method} ${r.url}`)).toEqual([
      'GET http://localhost:8888/base/jupyterlab-secrets/api/kernels/k%2F1',
      'POST http://localhost:8888/base/jupyterlab-secrets/api/kernels/k%2F1/reload'
    ]);
  });

  it('asks for the list only if it changed since an entity tag', async () => {
    const list = { project: 'default', secrets: [meta] };
    const headers: Array<string | null> = [];
    const answers = [
      new Response(JSON.stringify(list), {
        status: 200,
        headers: { ETag: '"v1"' }
      }),
      new Response(null, { status: 304, headers: { ETag: '"v1"' } })
    ];
    const fetchMock = jest.fn(async (input: RequestInfo | URL) => {
      headers.push((input as Request).headers.get('If-None-Match'));
      return answers.shift()!;
    });
    const client = new SecretsClient(
      ServerConnection.makeSettings({ fetch: fetchMock as any })
    );

    const first = await client.listIfChanged(null);
    const second = await client.listIfChanged(first.etag);

    expect(first).toEqual({ body: list, etag: '"v1"' });
    expect(second).toEqual({ body: null, etag: '"v1"' });
    expect(headers).toEqual([null, '"v1"']);
  });
});
