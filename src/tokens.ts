import { Token } from '@lumino/coreutils';
import { IDisposable } from '@lumino/disposable';
import { ISignal } from '@lumino/signaling';

import {
  IAuditEvent,
  ICommunity,
  IKernelSecrets,
  ISecretMeta,
  ISecretUpdate,
  ISecretVersion,
  SecretsAPIError
} from './api';

/**
 * How often the project's secrets are asked for by default, in
 * milliseconds, so that changes made elsewhere (another tab, another server
 * of the same store) show: the default of the panel's `refreshInterval`
 * setting, and of the kernels' status.
 */
export const DEFAULT_REFRESH_INTERVAL = 3 * 1000;

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
    | 'restore'
    | 'refresh';
  /**
   * The secret concerned, when there is one.
   */
  id?: string;
}

/**
 * The secrets of the current project: metadata only, never a value.
 *
 * Every request of the page to the secrets API goes through it: the list,
 * the changes, a secret's history and the kernels' secrets. A change
 * (restoring a version too) refreshes the list and emits `changed`; a value
 * asked for with `reveal` is handed to the caller and never kept.
 */
export interface ISecretsModel extends IDisposable {
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

  /**
   * Fetch one secret's metadata as now stored.
   */
  get(id: string): Promise<ISecretMeta>;

  /**
   * Fetch a secret's value, for a form the user asked to show or change it
   * in. The model does not keep it.
   */
  reveal(id: string): Promise<string>;

  /**
   * Create a secret in the current project.
   */
  create(name: string, value: string): Promise<ISecretMeta>;

  /**
   * Change a secret's name, value or both; `version` must be the current one.
   */
  update(id: string, update: ISecretUpdate): Promise<ISecretMeta>;

  /**
   * Delete a secret of the current project.
   */
  remove(id: string): Promise<void>;

  /**
   * Copy a secret into the current project under a new name, with its value
   * or a new one.
   */
  copy(id: string, name: string, value?: string): Promise<ISecretMeta>;

  /**
   * Set the communities a secret of the project is shared with.
   */
  setAccess(id: string, communities: string[]): Promise<ISecretMeta>;

  /**
   * Add a secret shared with the project to its kernels.
   */
  attach(id: string): Promise<ISecretMeta>;

  /**
   * Remove a shared secret from the project's kernels.
   */
  detach(id: string): Promise<void>;

  /**
   * The communities of the current project.
   */
  communities(): Promise<ICommunity[]>;

  /**
   * The kept versions of a secret: metadata only, never a value.
   */
  versions(id: string): Promise<ISecretVersion[]>;

  /**
   * Make a new version of a secret that holds the value of an earlier one;
   * `current` must be the secret's current version.
   */
  restore(id: string, version: number, current: number): Promise<ISecretMeta>;

  /**
   * The audit events of one secret, newest first. They never hold a value.
   */
  auditEvents(id: string): Promise<IAuditEvent[]>;

  /**
   * What the server knows of the secrets of a kernel it started: names
   * only, never a value.
   */
  kernelSecrets(kernelId: string): Promise<IKernelSecrets>;

  /**
   * Ask the server to set the project's secrets in a kernel again. It
   * changes no secret, so `changed` is not emitted.
   *
   * @returns the kernel's secrets afterwards
   */
  reloadKernel(kernelId: string): Promise<IKernelSecrets>;
}

/**
 * The secrets model token.
 */
export const ISecretsModel = new Token<ISecretsModel>(
  'jupyterlab-secrets:ISecretsModel',
  'The secrets of the current project (metadata only) and the operations on them.'
);
