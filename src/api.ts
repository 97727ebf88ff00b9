import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { components } from './rest';

/**
 * The schemas of the REST API, generated from the server's OpenAPI description
 * (`jupyterlab_secrets/openapi.yaml`) by `jlpm build:schema`.
 */
type Schemas = components['schemas'];

/**
 * The URL namespace of the server extension, relative to the server's base URL.
 */
export const API_NAMESPACE = 'jupyterlab-secrets/api';

/**
 * Where a secret comes from, seen from the current project.
 */
export type SecretOrigin = Schemas['Origin'];

/**
 * Why the server does not inject a secret into this project's kernels:
 * - `shadowed`: a secret of the same name wins (the project's own first);
 * - `traffic`: a shared secret whose name redirects network traffic or trust;
 * - `shared_name`: a shared secret whose name has no hyphen, so a tool might
 *   read it;
 * - `renamed`: a shared secret renamed by its owner since it was added;
 * - `undecryptable`: the configured key cannot decrypt it;
 * - `not_added`: a shared secret not added to the project;
 * - `reserved`: a name stored before the rules reserved it.
 */
export type NotInjectedReason = Schemas['NotInjectedReason'];

/**
 * Metadata of a secret. It never holds the value.
 *
 * The fields after `editable` explain its state; the server works them out,
 * and the frontend shows them without working them out again.
 */
export type ISecretMeta = Schemas['Meta'];

/**
 * The answer of `GET secrets`.
 */
export type ISecretList = Schemas['Listing'];

/**
 * The answer of a conditional `GET`.
 */
export interface IConditional<T> {
  /**
   * The body, or `null` when it is still the one the entity tag names.
   */
  body: T | null;
  /**
   * The entity tag of the answer now current, when the server gives one.
   */
  etag: string | null;
}

/**
 * A community of the current project.
 */
export type ICommunity = Schemas['Community'];

/**
 * The changes a `PATCH secrets/{id}` may carry.
 */
export type ISecretUpdate = Schemas['EditBody'];

/**
 * An error answered by the secrets API, with the server's readable message.
 *
 * The message never carries a secret value: the server guarantees that, and
 * the client never adds the request body to it.
 */
export class SecretsAPIError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string
  ) {
    super(message);
    this.name = 'SecretsAPIError';
  }
}

/**
 * Send a request to the secrets API and decode its JSON answer.
 *
 * @param path - the route below `jupyterlab-secrets/api/`
 * @param init - the fetch options
 * @param settings - the server connection settings
 */
export async function requestAPI<T>(
  path: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const { data } = await Private.send(path, init, settings);
  return data as T;
}

/**
 * A typed client for the secrets REST API.
 */
export class SecretsClient {
  /**
   * @param settings - the server connection settings; the default ones if omitted
   */
  constructor(settings?: ServerConnection.ISettings) {
    this.serverSettings = settings ?? ServerConnection.makeSettings();
  }

  /**
   * The server connection settings used for every request.
   */
  readonly serverSettings: ServerConnection.ISettings;

  /**
   * The project's own secrets, then those shared with it.
   */
  list(): Promise<ISecretList> {
    return this._request<ISecretList>('secrets');
  }

  /**
   * The list, unless it has not changed since the answer tagged `etag`.
   *
   * @param etag - the entity tag of the list held, if any
   */
  listIfChanged(etag: string | null): Promise<IConditional<ISecretList>> {
    return Private.getIfChanged<ISecretList>(
      'secrets',
      etag,
      this.serverSettings
    );
  }

  /**
   * Create a secret in the current project.
   */
  create(name: string, value: string): Promise<ISecretMeta> {
    return this._send<ISecretMeta>('secrets', 'POST', { name, value });
  }

  /**
   * Fetch one secret's metadata.
   */
  get(id: string): Promise<ISecretMeta> {
    return this._request<ISecretMeta>(Private.secretPath(id));
  }

  /**
   * Change a secret's name, value or both; `version` must be the current one.
   */
  update(id: string, update: ISecretUpdate): Promise<ISecretMeta> {
    return this._send<ISecretMeta>(Private.secretPath(id), 'PATCH', update);
  }

  /**
   * Delete a secret of the current project.
   */
  async remove(id: string): Promise<void> {
    await this._send<void>(Private.secretPath(id), 'DELETE');
  }

  /**
   * Fetch a secret's value. Only forms that show or edit a value call this.
   */
  async reveal(id: string): Promise<string> {
    const answer = await this._send<Schemas['Revealed']>(
      Private.secretPath(id, 'reveal'),
      'POST'
    );
    return answer.value;
  }

  /**
   * Copy a secret into the current project under a new name.
   */
  copy(id: string, name: string, value?: string): Promise<ISecretMeta> {
    const body: Schemas['CopyBody'] = { name };
    if (value !== undefined) {
      body.value = value;
    }
    return this._send<ISecretMeta>(
      Private.secretPath(id, 'copy'),
      'POST',
      body
    );
  }

  /**
   * Set the communities a secret is shared with.
   */
  setAccess(id: string, communities: string[]): Promise<ISecretMeta> {
    return this._send<ISecretMeta>(Private.secretPath(id, 'access'), 'PUT', {
      communities
    });
  }

  /**
   * Add a secret shared with the project to the project's environment.
   */
  attach(id: string): Promise<ISecretMeta> {
    return this._send<ISecretMeta>(Private.secretPath(id, 'attachment'), 'PUT');
  }

  /**
   * Remove a shared secret from the project's environment.
   */
  async detach(id: string): Promise<void> {
    await this._send<void>(Private.secretPath(id, 'attachment'), 'DELETE');
  }

  /**
   * The communities of the current project.
   */
  async communities(): Promise<ICommunity[]> {
    const answer = await this._request<Schemas['Communities']>('communities');
    return answer.communities;
  }

  /**
   * The kept versions of a secret, as the server lists them: metadata
   * only, never a value.
   */
  async versions(id: string): Promise<ISecretVersion[]> {
    const answer = await this._request<Schemas['Versions']>(
      Private.secretPath(id, 'versions')
    );
    return answer.versions;
  }

  /**
   * Make a new version of a secret that holds the value of an earlier one.
   *
   * @param id - the secret's ID
   * @param version - the version whose value comes back
   * @param current - the secret's current version, checked by the server
   */
  restore(id: string, version: number, current: number): Promise<ISecretMeta> {
    return this._send<ISecretMeta>(
      Private.secretPath(id, `versions/${version}/restore`),
      'POST',
      { version: current }
    );
  }

  /**
   * The audit events of one secret, newest first. They never hold a value.
   */
  async auditEvents(secretId: string): Promise<IAuditEvent[]> {
    const answer = await this._request<Schemas['Events']>(
      `audit?secret_id=${encodeURIComponent(secretId)}`
    );
    return answer.events;
  }

  /**
   * What the server knows of the secrets of a kernel it started: names
   * only, never a value.
   */
  kernelSecrets(kernelId: string): Promise<IKernelSecrets> {
    return this._request<IKernelSecrets>(Private.kernelPath(kernelId));
  }

  /**
   * Ask the server to set the project's secrets in a kernel again.
   *
   * @returns the kernel's secrets afterwards
   */
  reloadKernel(kernelId: string): Promise<IKernelSecrets> {
    return this._send<IKernelSecrets>(
      Private.kernelPath(kernelId, 'reload'),
      'POST'
    );
  }

  private _request<T>(path: string, init: RequestInit = {}): Promise<T> {
    return requestAPI<T>(path, init, this.serverSettings);
  }

  private _send<T>(path: string, method: string, body?: unknown): Promise<T> {
    const init: RequestInit = { method };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'Content-Type': 'application/json' };
    }
    return this._request<T>(path, init);
  }
}

namespace Private {
  /**
   * A `GET` with `If-None-Match`: the body, or `null` on 304 Not Modified.
   */
  export async function getIfChanged<T>(
    path: string,
    etag: string | null,
    settings: ServerConnection.ISettings
  ): Promise<IConditional<T>> {
    const init: RequestInit = {};
    if (etag !== null) {
      init.headers = { 'If-None-Match': etag };
    }
    const { response, data } = await send(path, init, settings);
    const current = response.headers.get('ETag');
    if (response.status === 304) {
      return { body: null, etag: current ?? etag };
    }
    return { body: data as T, etag: current };
  }

  /**
   * Send a request to the secrets API: the answer and its decoded JSON
   * body. Any status but 2xx and 304 (not modified, which has no body) is
   * thrown as a `SecretsAPIError`.
   */
  export async function send(
    path: string,
    init: RequestInit,
    settings: ServerConnection.ISettings
  ): Promise<{ response: Response; data: unknown }> {
    const url = URLExt.join(settings.baseUrl, API_NAMESPACE, path);
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, settings);
    } catch (error) {
      throw new SecretsAPIError(
        0,
        `The Jupyter server could not be reached: ${(error as Error).message}`
      );
    }
    const text = await response.text();
    let data: any = null;
    if (text.length > 0) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!response.ok && response.status !== 304) {
      const message =
        typeof data?.message === 'string' && data.message
          ? data.message
          : `The secrets service answered ${response.status} ${response.statusText}`.trim();
      throw new SecretsAPIError(
        response.status,
        message,
        typeof data?.field === 'string' ? data.field : undefined
      );
    }
    return { response, data };
  }

  /**
   * The route of one secret, or of one of its actions.
   */
  export function secretPath(id: string, action?: string): string {
    const base = `secrets/${encodeURIComponent(id)}`;
    return action ? `${base}/${action}` : base;
  }

  /**
   * The route of one kernel's secrets, or of one of its actions.
   */
  export function kernelPath(kernelId: string, action?: string): string {
    const base = `kernels/${encodeURIComponent(kernelId)}`;
    return action ? `${base}/${action}` : base;
  }
}

// The answers of the kernel status and of a secret's history.

/**
 * Whether a kernel has the project's secrets, as the server answers it.
 */
export type KernelSecretsState = Schemas['KernelState'];

/**
 * The secrets of one kernel: names only, never a value.
 */
export type IKernelSecrets = Schemas['KernelSecrets'];

/**
 * One kept version of a secret's value: metadata only.
 */
export type ISecretVersion = Schemas['SecretVersion'];

/**
 * What an audit event records was done.
 */
export type AuditAction = Schemas['AuditAction'];

/**
 * An event of the audit log. It never holds a value.
 */
export type IAuditEvent = Schemas['Event'];
