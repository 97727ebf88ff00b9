import { Debouncer } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import {
  IAuditEvent,
  ICommunity,
  IConditional,
  IKernelSecrets,
  ISecretList,
  ISecretMeta,
  ISecretUpdate,
  ISecretVersion,
  SecretsAPIError,
  SecretsClient
} from './api';
import { ISecretsChange, ISecretsModel } from './tokens';

/**
 * The secrets of the current project, kept in sync with the server.
 *
 * It holds metadata only. Values pass through `reveal` straight into an
 * open form and are never stored here.
 */
export class SecretsModel implements ISecretsModel {
  /**
   * @param client - the REST client; a default one if omitted
   */
  constructor(client?: SecretsClient) {
    this._client = client ?? new SecretsClient();
    // A debouncer runs its function on a poll, and a poll drops the answer
    // of a run that a newer call superseded: an older list never replaces a
    // newer one. With no delay, it only merges the refreshes asked for in
    // one turn of the event loop into one request.
    this._list = new Debouncer(() => this._fetch(), 0);
    this.ready = this.refresh().catch(() => undefined);
  }

  readonly ready: Promise<void>;

  get project(): string | null {
    return this._project;
  }

  get secrets(): ReadonlyArray<ISecretMeta> {
    return this._secrets;
  }

  get error(): SecretsAPIError | null {
    return this._error;
  }

  get changed(): ISignal<this, ISecretsChange> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /**
   * Fetch the list anew. A refresh asked for while another is on its way
   * sends a new request, and both resolve with its answer: the answer to
   * the older request is dropped, whenever it arrives.
   */
  refresh(): Promise<void> {
    if (this._isDisposed) {
      return Promise.resolve();
    }
    // The fetch never rejects; the list is only stopped on disposal.
    return this._list.invoke().then(
      answer => this._apply(answer),
      () => undefined
    );
  }

  ownNames(): Set<string> {
    return new Set(
      this._secrets.filter(s => s.origin === 'project').map(s => s.name)
    );
  }

  get(id: string): Promise<ISecretMeta> {
    return this._client.get(id);
  }

  reveal(id: string): Promise<string> {
    return this._client.reveal(id);
  }

  create(name: string, value: string): Promise<ISecretMeta> {
    return this._change({ type: 'create' }, () =>
      this._client.create(name, value)
    );
  }

  update(id: string, update: ISecretUpdate): Promise<ISecretMeta> {
    return this._change({ type: 'update', id }, () =>
      this._client.update(id, update)
    );
  }

  remove(id: string): Promise<void> {
    return this._change({ type: 'delete', id }, () => this._client.remove(id));
  }

  copy(id: string, name: string, value?: string): Promise<ISecretMeta> {
    return this._change({ type: 'copy', id }, () =>
      this._client.copy(id, name, value)
    );
  }

  setAccess(id: string, communities: string[]): Promise<ISecretMeta> {
    return this._change({ type: 'access', id }, () =>
      this._client.setAccess(id, communities)
    );
  }

  attach(id: string): Promise<ISecretMeta> {
    return this._change({ type: 'attach', id }, () => this._client.attach(id));
  }

  detach(id: string): Promise<void> {
    return this._change({ type: 'detach', id }, () => this._client.detach(id));
  }

  communities(): Promise<ICommunity[]> {
    return this._client.communities();
  }

  versions(id: string): Promise<ISecretVersion[]> {
    return this._client.versions(id);
  }

  restore(id: string, version: number, current: number): Promise<ISecretMeta> {
    return this._change({ type: 'restore', id }, () =>
      this._client.restore(id, version, current)
    );
  }

  auditEvents(id: string): Promise<IAuditEvent[]> {
    return this._client.auditEvents(id);
  }

  kernelSecrets(kernelId: string): Promise<IKernelSecrets> {
    return this._client.kernelSecrets(kernelId);
  }

  reloadKernel(kernelId: string): Promise<IKernelSecrets> {
    return this._client.reloadKernel(kernelId);
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    // Stopping settles the refreshes still waiting, so none waits forever.
    void this._list.stop();
    this._list.dispose();
    Signal.clearData(this);
  }

  /**
   * Run a change on the server, then refresh so the list shows the truth,
   * and tell listeners what changed. A failed change refreshes too, since
   * a conflict means someone else changed the list.
   */
  private async _change<T>(
    change: ISecretsChange,
    call: () => Promise<T>
  ): Promise<T> {
    try {
      const result = await call();
      await this.refresh();
      if (change.type === 'create' || change.type === 'copy') {
        change = { ...change, id: (result as any)?.id ?? change.id };
      }
      this._emit(change);
      return result;
    } catch (error) {
      if (
        error instanceof SecretsAPIError &&
        [404, 409].includes(error.status)
      ) {
        await this.refresh();
      }
      throw error;
    }
  }

  /**
   * Fetch the list, or only learn that it has not changed: the server may
   * tag its answers, and a poll then costs a `304 Not Modified`.
   */
  private async _fetch(): Promise<Private.ListAnswer> {
    try {
      return await this._client.listIfChanged(this._etag);
    } catch (error) {
      return error instanceof SecretsAPIError
        ? error
        : new SecretsAPIError(0, String(error));
    }
  }

  /**
   * Keep the answer of the latest fetch, and tell listeners unless it
   * changed nothing (a `304`, with no error to clear).
   */
  private _apply(answer: Private.ListAnswer): void {
    // Refreshes that waited together share one answer: it applies once.
    if (answer === this._applied || this._isDisposed) {
      return;
    }
    this._applied = answer;
    if (answer instanceof SecretsAPIError) {
      this._error = answer;
    } else {
      if (answer.body === null) {
        if (this._error === null) {
          return;
        }
      } else {
        this._project = answer.body.project;
        this._secrets = answer.body.secrets;
        this._etag = answer.etag;
      }
      this._error = null;
    }
    this._emit({ type: 'refresh' });
  }

  private _emit(change: ISecretsChange): void {
    if (!this._isDisposed) {
      this._changed.emit(change);
    }
  }

  private _client: SecretsClient;
  private _project: string | null = null;
  private _secrets: ISecretMeta[] = [];
  private _error: SecretsAPIError | null = null;
  private _etag: string | null = null;
  private _list: Debouncer<Private.ListAnswer, unknown, []>;
  private _applied: Private.ListAnswer | null = null;
  private _isDisposed = false;
  private _changed = new Signal<this, ISecretsChange>(this);
}

namespace Private {
  /**
   * What a fetch of the list brings: the list (or word that it has not
   * changed), or the error that kept it from coming.
   */
  export type ListAnswer = IConditional<ISecretList> | SecretsAPIError;
}
