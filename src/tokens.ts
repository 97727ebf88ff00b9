import { Token } from '@lumino/coreutils';
import { IDisposable } from '@lumino/disposable';
import { ISignal } from '@lumino/signaling';

import {
  ICommunity,
  ISecretMeta,
  ISecretUpdate,
  SecretsAPIError,
  SecretsClient
} from './api';

/**
 * What changed in the project's secrets, so listeners can react precisely.
 */
export interface ISecretsChange {
  /**
   * The kind of change; `refresh` means the list was fetched anew.
   */
  type:
    | 'create'
    | 'update'
    | 'delete'
    | 'copy'
    | 'access'
    | 'attach'
    | 'detach'
    | 'refresh';
  /**
   * The secret concerned, when there is one.
   */
  id?: string;
}

/**
 * The secrets of the current project: metadata only, never a value.
 */
export interface ISecretsModel extends IDisposable {
  /**
   * The REST client the model talks through.
   */
  readonly client: SecretsClient;

  /**
   * The project this server works in; `null` until the first refresh.
   */
  readonly project: string | null;

  /**
   * The project's own secrets, then those shared with it.
   */
  readonly secrets: ReadonlyArray<ISecretMeta>;

  /**
   * The last refresh error, or `null` when the list is current.
   */
  readonly error: SecretsAPIError | null;

  /**
   * Resolves after the first refresh, whether it succeeded or not.
   */
  readonly ready: Promise<void>;

  /**
   * Emitted after the list or the error changed.
   */
  readonly changed: ISignal<ISecretsModel, ISecretsChange>;

  /**
   * Fetch the list anew.
   */
  refresh(): Promise<void>;

  /**
   * The names taken in the current project, for the name check.
   */
  ownNames(): Set<string>;

  create(name: string, value: string): Promise<ISecretMeta>;
  update(id: string, update: ISecretUpdate): Promise<ISecretMeta>;
  remove(id: string): Promise<void>;
  copy(id: string, name: string, value?: string): Promise<ISecretMeta>;
  setAccess(id: string, communities: string[]): Promise<ISecretMeta>;
  attach(id: string): Promise<ISecretMeta>;
  detach(id: string): Promise<void>;
  communities(): Promise<ICommunity[]>;
}

/**
 * The secrets model token.
 */
export const ISecretsModel = new Token<ISecretsModel>(
  'jupyterlab-secrets:ISecretsModel',
  'The secrets of the current project (metadata only) and the operations on them.'
);
