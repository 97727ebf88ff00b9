import { ISignal, Signal } from '@lumino/signaling';

import {
  IAuditEvent,
  ICommunity,
  IKernelSecrets,
  ISecretMeta,
  ISecretUpdate,
  ISecretVersion,
  SecretsAPIError,
  SecretsClient
} from './api';
import { LatestAnswer } from './latest';
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
   * Fetch the list anew. When answers arrive out of order, only the newest
   * request's answer is kept.
   */
  refresh(): Promise<void> {
    return this._fetch(this._latest.begin());
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
   * tag its answers, and a poll then costs a `304 Not Modified`, with no
   * signal.
   */
  private async _fetch(request: number): Promise<void> {
    const sent = this._etag;
    try {
      const answer = await this._client.listIfChanged(sent);
      if (!this._latest.accept(request)) {
        return;
      }
      if (answer.body === null) {
        // "Not modified" speaks of the tag sent; a newer list may have
        // come in meanwhile, which it says nothing about.
        if (sent !== this._etag || this._error === null) {
          return;
        }
      } else {
        this._project = answer.body.project;
        this._secrets = answer.body.secrets;
        this._etag = answer.etag;
      }
      this._error = null;
    } catch (error) {
      if (!this._latest.accept(request)) {
        return;
      }
      this._error =
        error instanceof SecretsAPIError
          ? error
          : new SecretsAPIError(0, String(error));
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
  private _latest = new LatestAnswer();
  private _isDisposed = false;
  private _changed = new Signal<this, ISecretsChange>(this);
}
