import { ISessionContext } from '@jupyterlab/apputils';
import { Kernel } from '@jupyterlab/services';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { UserActivity } from '../activity';
import { IKernelSecrets, KernelSecretsState, SecretsAPIError } from '../api';

/**
 * How often the secrets of the followed kernels are asked for, by default.
 * The server sets them by itself; this only brings the toolbar up to date
 * with changes made elsewhere (another tab, the command line).
 */
export const DEFAULT_STATUS_INTERVAL = 10 * 1000;

/**
 * The first wait before asking again about a kernel whose secrets are still
 * being set; it doubles up to the poll's interval.
 */
const PENDING_RETRY = 250;

/**
 * How long after a change of the secrets the followed kernels are asked
 * about once more: the server sets the change in them after answering it.
 */
const SETTLE_DELAY = 1000;

/**
 * What the page knows of the secrets of one kernel.
 *
 * `loading` until the server answered; `unavailable` when it could not be
 * asked (the server is away, or does not know the kernel).
 */
export interface IKernelStatus {
  state: KernelSecretsState | 'loading' | 'unavailable';
  language: string | null;
  names: string[];
  skipped: Array<{ name: string; reason: string }>;
  message: string | null;
}

/**
 * Follows what the server says of the secrets of the kernels shown in this
 * page: at once when a kernel appears, restarts or reconnects, when the
 * secrets change, and now and then while the tab is in use.
 *
 * It never holds a value: the server answers names only.
 */
export class KernelSecretsTracker implements IDisposable {
  /**
   * @param options - how to ask the server, and how often
   */
  constructor(options: KernelSecretsTracker.IOptions) {
    this._fetch = options.fetch;
    this._reload = options.reload;
    this._activity = new UserActivity({ idleAfter: options.idleAfter });
    this._poll = new Poll({
      auto: true,
      factory: () => this._tick(),
      frequency: {
        interval: Private.pollInterval(
          options.interval ?? DEFAULT_STATUS_INTERVAL
        ),
        backoff: false
      },
      name: 'jupyterlab-secrets:kernel-status',
      // A hidden tab, an idle one, or one without kernels asks nothing.
      standby: () =>
        this._records.size === 0 || this._activity.isIdle || 'when-hidden'
    });
    this._activity.resumed.connect(this._onResumed, this);
  }

  /**
   * Emitted with a kernel's ID when what is known of its secrets changed.
   */
  get changed(): ISignal<this, string> {
    return this._changed;
  }

  /**
   * How often the followed kernels are asked about, in milliseconds; 0
   * asks only on events (a new kernel, a restart, a change of secrets).
   */
  get interval(): number {
    const interval = this._poll.frequency.interval;
    return interval === Poll.NEVER ? 0 : interval;
  }
  set interval(value: number) {
    this._poll.frequency = {
      ...this._poll.frequency,
      interval: Private.pollInterval(value)
    };
  }

  /**
   * The poll that asks about the followed kernels.
   */
  get poll(): Poll {
    return this._poll;
  }

  /**
   * The kernels followed now.
   */
  get kernelIds(): string[] {
    return Array.from(this._records.keys());
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /**
   * What is known of a kernel's secrets: `loading` until the server
   * answered, `null` for no kernel.
   */
  statusOf(kernelId: string | null | undefined): IKernelStatus | null {
    if (!kernelId) {
      return null;
    }
    return this._records.get(kernelId)?.status ?? Private.LOADING;
  }

  /**
   * Follow a kernel until the returned disposable is disposed (several
   * followers of one kernel are counted). Its secrets are asked for at once.
   */
  watch(kernelId: string): IDisposable {
    let record = this._records.get(kernelId);
    if (!record) {
      record = new Private.KernelRecord();
      this._records.set(kernelId, record);
      void this.refresh(kernelId);
    }
    record.watchers++;
    return new DisposableDelegate(() => {
      const current = this._records.get(kernelId);
      if (current === record && --record!.watchers <= 0) {
        record!.clearRetry();
        this._records.delete(kernelId);
      }
    });
  }

  /**
   * Follow the kernels of a notebook or console: its kernel now, every
   * kernel it will get, and their restarts and reconnects.
   */
  follow(sessionContext: ISessionContext): IDisposable {
    let watching: IDisposable | null = null;
    let kernel: Kernel.IKernelConnection | null = null;
    let restarting = false;

    const onStatus = (_: unknown, status: Kernel.Status) => {
      if (!kernel) {
        return;
      }
      if (status === 'restarting' || status === 'autorestarting') {
        // The server sets the secrets in the new kernel: loading until
        // it says they are there.
        restarting = true;
        this._setStatus(kernel.id, Private.LOADING);
      } else if (restarting && status === 'idle') {
        restarting = false;
        void this.refresh(kernel.id);
      }
    };
    const onConnection = (_: unknown, status: Kernel.ConnectionStatus) => {
      if (kernel && status === 'connected') {
        void this.refresh(kernel.id);
      }
    };
    const setKernel = (next: Kernel.IKernelConnection | null) => {
      if (next === kernel) {
        return;
      }
      if (kernel) {
        kernel.statusChanged.disconnect(onStatus);
        kernel.connectionStatusChanged.disconnect(onConnection);
      }
      // Watch the new kernel before letting go of the old one: a new
      // connection to the same kernel keeps what is known of it.
      const previous = watching;
      watching = null;
      restarting = false;
      kernel = next;
      if (kernel) {
        kernel.statusChanged.connect(onStatus);
        kernel.connectionStatusChanged.connect(onConnection);
        watching = this.watch(kernel.id);
      }
      previous?.dispose();
    };
    const onKernelChanged = () =>
      setKernel(sessionContext.session?.kernel ?? null);

    sessionContext.kernelChanged.connect(onKernelChanged);
    setKernel(sessionContext.session?.kernel ?? null);
    return new DisposableDelegate(() => {
      sessionContext.kernelChanged.disconnect(onKernelChanged);
      setKernel(null);
    });
  }

  /**
   * Ask the server about some followed kernels, or about all of them.
   */
  async refresh(kernelId?: string | string[]): Promise<void> {
    const ids =
      kernelId === undefined
        ? this.kernelIds
        : typeof kernelId === 'string'
          ? [kernelId]
          : kernelId;
    await Promise.all(ids.map(id => this._ask(id)));
  }

  /**
   * Ask about every followed kernel now, and once more when the server has
   * had time to set a change of the secrets in them.
   */
  secretsChanged(): void {
    void this.refresh();
    window.clearTimeout(this._settle);
    this._settle = window.setTimeout(() => void this.refresh(), SETTLE_DELAY);
  }

  /**
   * Ask the server to set the secrets in a kernel again.
   *
   * @returns what the server says of the kernel's secrets afterwards
   */
  async reload(kernelId: string): Promise<IKernelSecrets> {
    const record = this._records.get(kernelId);
    const request = record ? ++record.requested : 0;
    if (record) {
      this._setStatus(kernelId, Private.LOADING);
    }
    try {
      const answer = await this._reload(kernelId);
      this._apply(kernelId, request, Private.statusOf(answer));
      return answer;
    } catch (error) {
      this._apply(kernelId, request, Private.unavailable(error));
      throw error;
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    window.clearTimeout(this._settle);
    for (const record of this._records.values()) {
      record.clearRetry();
    }
    this._records.clear();
    this._poll.dispose();
    this._activity.dispose();
    Signal.clearData(this);
  }

  /**
   * A tick of the poll: ask about the kernels not asked about lately (an
   * event may just have done so).
   */
  private async _tick(): Promise<void> {
    const since = Date.now() - Math.max(this.interval / 2, PENDING_RETRY);
    await this.refresh(
      this.kernelIds.filter(id => this._records.get(id)!.askedAt <= since)
    );
  }

  private async _ask(kernelId: string): Promise<void> {
    const record = this._records.get(kernelId);
    if (!record || this._isDisposed) {
      return;
    }
    const request = ++record.requested;
    record.askedAt = Date.now();
    let status: IKernelStatus;
    try {
      status = Private.statusOf(await this._fetch(kernelId));
    } catch (error) {
      status = Private.unavailable(error);
    }
    this._apply(kernelId, request, status);
  }

  /**
   * Keep an answer unless a newer request was sent meanwhile; while the
   * server is still setting the secrets, ask again soon.
   *
   * The order is a count per kernel, not lumino's `Debouncer` (which keeps
   * only the latest run's answer, as the secrets model uses it): an ask
   * and a reload of one kernel are two requests that share the order, and
   * a debouncer runs one function with the latest call's arguments, so a
   * reload asked for in the same turn as an ask would never be sent.
   */
  private _apply(kernelId: string, request: number, status: IKernelStatus) {
    const record = this._records.get(kernelId);
    if (!record || request < record.requested || this._isDisposed) {
      return;
    }
    record.clearRetry();
    if (status.state === 'pending') {
      const wait = record.retryWait;
      record.retryWait = Math.min(
        wait * 2,
        Math.max(this.interval, PENDING_RETRY)
      );
      record.retry = window.setTimeout(() => void this._ask(kernelId), wait);
    } else {
      record.retryWait = PENDING_RETRY;
    }
    this._setStatus(kernelId, status);
  }

  private _setStatus(kernelId: string, status: IKernelStatus): void {
    const record = this._records.get(kernelId);
    if (!record || Private.same(record.status, status)) {
      return;
    }
    record.status = status;
    this._changed.emit(kernelId);
  }

  private _onResumed(): void {
    if (this._records.size > 0) {
      // Back from idle: bring the toolbar up to date at once.
      void this._poll.refresh();
    }
  }

  private _fetch: (kernelId: string) => Promise<IKernelSecrets>;
  private _reload: (kernelId: string) => Promise<IKernelSecrets>;
  private _activity: UserActivity;
  private _records = new Map<string, Private.KernelRecord>();
  private _poll: Poll;
  private _settle = 0;
  private _isDisposed = false;
  private _changed = new Signal<this, string>(this);
}

/**
 * The types of the kernel secrets tracker.
 */
export namespace KernelSecretsTracker {
  /**
   * How the tracker asks the server.
   */
  export interface IOptions {
    /**
     * `GET kernels/{id}` of the secrets API.
     */
    fetch: (kernelId: string) => Promise<IKernelSecrets>;
    /**
     * `POST kernels/{id}/reload` of the secrets API.
     */
    reload: (kernelId: string) => Promise<IKernelSecrets>;
    /**
     * How often to ask about the followed kernels, in milliseconds; 0
     * asks only on events.
     */
    interval?: number;
    /**
     * After how long without user activity the poll stands by.
     */
    idleAfter?: number;
  }
}

namespace Private {
  /**
   * The status of a kernel the server has not answered about yet.
   */
  export const LOADING: IKernelStatus = Object.freeze({
    state: 'loading',
    language: null,
    names: [],
    skipped: [],
    message: null
  }) as IKernelStatus;

  /**
   * What the tracker keeps of a followed kernel.
   */
  export class KernelRecord {
    status: IKernelStatus = LOADING;
    watchers = 0;
    /**
     * The number of the latest ask or reload sent; older answers are
     * dropped.
     */
    requested = 0;
    askedAt = 0;
    retry = 0;
    retryWait = PENDING_RETRY;

    clearRetry(): void {
      if (this.retry) {
        window.clearTimeout(this.retry);
        this.retry = 0;
      }
    }
  }

  /**
   * The poll interval for a status interval: 0 or less never polls.
   */
  export function pollInterval(ms: number): number {
    return ms > 0 ? ms : Poll.NEVER;
  }

  /**
   * A server's answer, checked: anything unexpected counts as an error.
   */
  export function statusOf(answer: IKernelSecrets): IKernelStatus {
    const states = ['loaded', 'pending', 'unsupported', 'error'];
    const valid = answer && states.includes(answer.state);
    return {
      state: valid ? answer.state : 'error',
      language: typeof answer?.language === 'string' ? answer.language : null,
      names: Array.isArray(answer?.names) ? [...answer.names].sort() : [],
      skipped: Array.isArray(answer?.skipped) ? answer.skipped : [],
      message: typeof answer?.message === 'string' ? answer.message : null
    };
  }

  /**
   * The status of a kernel the server could not be asked about.
   */
  export function unavailable(error: unknown): IKernelStatus {
    return {
      state: 'unavailable',
      language: null,
      names: [],
      skipped: [],
      message:
        error instanceof SecretsAPIError || error instanceof Error
          ? error.message
          : String(error)
    };
  }

  /**
   * Whether two statuses show the same.
   */
  export function same(a: IKernelStatus, b: IKernelStatus): boolean {
    return JSON.stringify(a) === JSON.stringify(b);
  }
}
