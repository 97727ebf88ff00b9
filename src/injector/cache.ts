import { JSONExt } from '@lumino/coreutils';
import { ISignal, Signal } from '@lumino/signaling';

import { LatestAnswer } from '../latest';

/**
 * Fetches the environment injected into the project's kernels; `null` means
 * it has not changed since the last answer (a 304 to a conditional request).
 */
export type EnvironmentFetcher = () => Promise<Record<string, string> | null>;

/**
 * The project's environment (secret names and values), kept in memory so that
 * an injection can be queued the moment a kernel appears, without waiting for
 * the server.
 *
 * It lives inside the injector only: the secrets model never holds values.
 * Nothing here logs or shows a value.
 */
export class EnvironmentCache {
  /**
   * @param fetcher - fetches the environment from the server
   */
  constructor(fetcher: EnvironmentFetcher) {
    this._fetcher = fetcher;
  }

  /**
   * The last environment fetched, or `null` before the first success.
   */
  get environment(): Readonly<Record<string, string>> | null {
    return this._environment;
  }

  /**
   * Whether an environment has been fetched at least once.
   */
  get isLoaded(): boolean {
    return this._environment !== null;
  }

  /**
   * The error of the last fetch, or `null` when it succeeded. It holds the
   * server's message, which never carries a value.
   */
  get error(): Error | null {
    return this._error;
  }

  /**
   * Emitted when the environment differs from the one held before, or when
   * the first one arrives.
   */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /**
   * Fetch the environment anew. When fetches overlap, only the newest one's
   * answer is kept, so an older answer never overwrites a newer one.
   *
   * @returns whether the environment changed
   */
  async refresh(): Promise<boolean> {
    const request = this._latest.begin();
    try {
      const environment = await this._fetcher();
      if (!this._latest.accept(request)) {
        return false;
      }
      this._error = null;
      if (environment === null) {
        return false;
      }
      const changed =
        this._environment === null ||
        !JSONExt.deepEqual(this._environment, environment);
      if (changed) {
        this._environment = Object.freeze({ ...environment });
        this._changed.emit();
      }
      return changed;
    } catch (error) {
      if (this._latest.accept(request)) {
        this._error = error instanceof Error ? error : new Error(String(error));
      }
      throw error;
    }
  }

  private _fetcher: EnvironmentFetcher;
  private _environment: Readonly<Record<string, string>> | null = null;
  private _error: Error | null = null;
  private _latest = new LatestAnswer();
  private _changed = new Signal<this, void>(this);
}
