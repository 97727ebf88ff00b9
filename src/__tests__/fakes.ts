import { ServerConnection } from '@jupyterlab/services';

import { ISecretMeta, SecretsClient } from '../api';

/**
 * The metadata of a project secret owned by alice, injected and hidden in
 * outputs, as the server lists it; `extra` overrides any field.
 */
export function meta(
  name: string,
  extra: Partial<ISecretMeta> = {}
): ISecretMeta {
  return {
    id: `id-${name}`,
    name,
    project: 'default',
    created_by: 'alice',
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
    version: 1,
    shared_with: [],
    origin: 'project',
    attached: false,
    editable: true,
    shadowed: false,
    injected: true,
    not_injected_reason: null,
    attached_name: null,
    hidden_in_outputs: true,
    ...extra
  };
}

/**
 * An answer of the mocked server: a status and a JSON body, or a failure.
 */
export type Answer = { status: number; body?: unknown } | Error;

/**
 * A REST layer answering from a handler, recording each request by its
 * path below the secrets API. The client on top of it is the real one.
 */
export function mockServer(
  handler: (method: string, path: string, body: string) => Answer
) {
  const requests: Array<{ method: string; path: string; body: string }> = [];
  const fetchMock = jest.fn(
    async (input: RequestInfo | URL, init?: RequestInit) => {
      const request = input instanceof Request ? input : null;
      const url = (request ? request.url : String(input)).split('?')[0];
      const method = (request?.method ?? init?.method ?? 'GET').toUpperCase();
      const path = url.replace(/^.*\/jupyterlab-secrets\/api\//, '');
      const body = request
        ? await request.text()
        : ((init?.body as string) ?? '');
      requests.push({ method, path, body });
      const answer = handler(method, path, body);
      if (answer instanceof Error) {
        throw answer;
      }
      return new Response(
        answer.body === undefined ? null : JSON.stringify(answer.body),
        { status: answer.status }
      );
    }
  );
  const settings = ServerConnection.makeSettings({
    baseUrl: 'http://localhost:8888/',
    fetch: fetchMock as any
  });
  return { client: new SecretsClient(settings), requests };
}
