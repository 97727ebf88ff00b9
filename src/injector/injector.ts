import { IChangedArgs } from '@jupyterlab/coreutils';
import { Kernel, KernelMessage } from '@jupyterlab/services';
import { UUID } from '@lumino/coreutils';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { EnvironmentCache } from './cache';
import { generatorFor, STATUS_EXPRESSION } from './generators';

/**
 * Something that exposes a kernel and says when it changes: a notebook's or
 * console's `ISessionContext`, or a bare `Session.ISessionConnection`.
 */
export interface IKernelSource {
  /**
   * Emitted, synchronously, when the source's kernel connection is replaced.
   */
  readonly kernelChanged: ISignal<
    any,
    IChangedArgs<
      Kernel.IKernelConnection | null,
      Kernel.IKernelConnection | null,
      'kernel'
    >
  >;
}

/**
 * Sets the project's secrets in kernels, before any user code runs there.
 *
 * Messages on one kernel connection are sent, and executed, in order, and a
 * connection queues what is sent while it connects or restarts. So the
 * injection is queued synchronously at the moment a kernel appears or
 * restarts, from the environment already held in memory, and every user
 * message sent after that moment runs after it.
 *
 * - A new kernel: queued in the source's `kernelChanged` handler.
 * - A manual or automatic restart: `statusChanged` reports `restarting` or
 *   `autorestarting` before the connection has dropped the old kernel's
 *   state, so the injection is queued one microtask later, once the
 *   connection holds messages for the new kernel, and before any other
 *   event (a click, a timer, a reply) can queue user code.
 * - A reconnect: queued when the connection starts `connecting`, so it goes
 *   out first when the connection is back, whether or not the kernel was
 *   restarted meanwhile.
 * - A change of the secrets: queued for every tracked kernel.
 *
 * It never logs, shows or stores a value outside the environment cache.
 */
export class KernelInjector implements IDisposable {
  /**
   * @param options - the environment cache and how to tell a kernel's language
   */
  constructor(options: KernelInjector.IOptions) {
    this._cache = options.cache;
    this._languageOf = options.languageOf ?? (() => undefined);
    this._cache.changed.connect(this._onEnvironmentChanged, this);
  }

  /**
   * The environment the injector sets.
   */
  get cache(): EnvironmentCache {
    return this._cache;
  }

  /**
   * Emitted when the injection state of a kernel changes.
   */
  get stateChanged(): ISignal<this, KernelInjector.IStateChange> {
    return this._stateChanged;
  }

  /**
   * The kernels tracked now.
   */
  get kernels(): Kernel.IKernelConnection[] {
    return Array.from(this._records.keys());
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /**
   * Track the kernel of a source now and every kernel it will get.
   *
   * Connect it before the source can start a kernel (when its widget is
   * created), so that the injection is queued in the same `kernelChanged`
   * emission that exposes the kernel.
   *
   * @param source - the session context or session connection
   * @param current - the source's kernel at this moment, if any
   * @returns a disposable that stops watching the source
   */
  watch(
    source: IKernelSource,
    current: Kernel.IKernelConnection | null = null
  ): IDisposable {
    const onKernelChanged = (
      _: unknown,
      args: IChangedArgs<
        Kernel.IKernelConnection | null,
        Kernel.IKernelConnection | null,
        'kernel'
      >
    ) => {
      if (args.newValue) {
        this.track(args.newValue);
      }
    };
    source.kernelChanged.connect(onKernelChanged);
    if (current) {
      this.track(current);
    }
    return new DisposableDelegate(() => {
      source.kernelChanged.disconnect(onKernelChanged);
    });
  }

  /**
   * Track a kernel connection: inject now, and after every restart and
   * reconnect until the connection is disposed. Tracking twice is a no-op.
   */
  track(kernel: Kernel.IKernelConnection): void {
    if (this._isDisposed || kernel.isDisposed || this._records.has(kernel)) {
      return;
    }
    const record = new Private.KernelRecord();
    this._records.set(kernel, record);
    kernel.statusChanged.connect(this._onStatusChanged, this);
    kernel.connectionStatusChanged.connect(this._onConnectionChanged, this);
    kernel.disposed.connect(this._onKernelDisposed, this);
    void this.inject(kernel);
    // The kernelspec may name a language the kernel does not speak; the
    // kernel's own answer decides, and a wrong guess is set right at once.
    void kernel.info
      .then(info => {
        const language = info.language_info?.name ?? null;
        if (
          this._records.get(kernel) === record &&
          record.language !== undefined &&
          generatorFor(language) !== generatorFor(record.language)
        ) {
          record.language = language;
          void this.inject(kernel);
        }
      })
      .catch(() => undefined);
  }

  /**
   * Stop tracking a kernel connection. The kernel keeps its environment.
   */
  untrack(kernel: Kernel.IKernelConnection): void {
    if (!this._records.delete(kernel)) {
      return;
    }
    kernel.statusChanged.disconnect(this._onStatusChanged, this);
    kernel.connectionStatusChanged.disconnect(this._onConnectionChanged, this);
    kernel.disposed.disconnect(this._onKernelDisposed, this);
  }

  /**
   * The injection state of a tracked kernel, or `null`.
   */
  stateOf(
    kernel: Kernel.IKernelConnection | null
  ): KernelInjector.IState | null {
    return (kernel && this._records.get(kernel)?.state) ?? null;
  }

  /**
   * Set the environment in a kernel.
   *
   * The request is queued on the connection before this returns, so any
   * message sent afterwards on the same connection runs after it.
   *
   * @returns the state once the kernel answered (or the injection was
   *   overtaken by a newer one, a restart or a disposal)
   */
  inject(kernel: Kernel.IKernelConnection): Promise<KernelInjector.IState> {
    if (!this._records.has(kernel)) {
      this.track(kernel);
    }
    const record = this._records.get(kernel);
    if (!record) {
      return Promise.resolve(Private.DISPOSED_STATE);
    }
    const attempt = ++record.attempt;
    const environment = this._cache.environment;
    if (environment === null) {
      return Promise.resolve(
        this._settle(kernel, record, attempt, {
          status: 'error',
          reason: 'fetch',
          language: record.language ?? null,
          names: [],
          skipped: []
        })
      );
    }
    if (record.language === undefined) {
      record.language = this._languageOf(kernel);
    }
    if (record.language === undefined) {
      // Not known yet, so nothing safe can be queued: wait for the kernel
      // to say. Only kernels missing from the kernelspecs take this path.
      this._setState(kernel, record, {
        status: 'pending',
        language: null,
        names: [],
        skipped: []
      });
      return kernel.info.then(
        info => {
          if (
            record.attempt !== attempt ||
            this._records.get(kernel) !== record
          ) {
            return record.state;
          }
          record.language = info.language_info?.name ?? null;
          return this.inject(kernel);
        },
        () => record.state
      );
    }
    const language = record.language;
    const generator = generatorFor(language);
    if (!generator) {
      return Promise.resolve(
        this._settle(kernel, record, attempt, {
          status: 'unsupported',
          language,
          names: [],
          skipped: Object.keys(environment).sort()
        })
      );
    }
    const token = UUID.uuid4().replace(/-/g, '');
    const injection = generator(environment, token);
    let future: Kernel.IShellFuture<
      KernelMessage.IExecuteRequestMsg,
      KernelMessage.IExecuteReplyMsg
    >;
    try {
      future = kernel.requestExecute(
        {
          code: injection.code,
          silent: true,
          store_history: false,
          allow_stdin: false,
          stop_on_error: false,
          user_expressions: injection.userExpressions
        },
        true
      );
    } catch {
      return Promise.resolve(
        this._settle(kernel, record, attempt, {
          status: 'error',
          reason: 'kernel',
          language,
          names: [],
          skipped: injection.skipped
        })
      );
    }
    this._setState(kernel, record, {
      status: 'pending',
      language,
      names: injection.names,
      skipped: injection.skipped
    });
    return future.done.then(
      reply => {
        const outcome = Private.outcome(reply.content, token);
        if (
          outcome === 'aborted' &&
          record.attempt === attempt &&
          record.retries < 1
        ) {
          // A user cell failed and the kernel dropped everything queued
          // behind it, this too: send it again.
          record.retries++;
          return this.inject(kernel);
        }
        record.retries = 0;
        return this._settle(kernel, record, attempt, {
          status: outcome === 'ok' ? 'loaded' : 'error',
          reason: outcome === 'ok' ? undefined : 'kernel',
          language,
          names: outcome === 'ok' ? injection.names : [],
          skipped: injection.skipped
        });
      },
      // The connection dropped the request: a restart or a disposal, which
      // queue their own injection.
      () => record.state
    );
  }

  /**
   * Set the environment in every tracked kernel.
   */
  injectAll(): Promise<KernelInjector.IState[]> {
    return Promise.all(this.kernels.map(kernel => this.inject(kernel)));
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    for (const kernel of this.kernels) {
      this.untrack(kernel);
    }
    this._cache.changed.disconnect(this._onEnvironmentChanged, this);
    Signal.clearData(this);
  }

  private _onEnvironmentChanged(): void {
    void this.injectAll();
  }

  private _onStatusChanged(
    kernel: Kernel.IKernelConnection,
    status: Kernel.Status
  ): void {
    const record = this._records.get(kernel);
    if (!record) {
      return;
    }
    if (status === 'dead') {
      this.untrack(kernel);
      return;
    }
    if (status !== 'restarting' && status !== 'autorestarting') {
      return;
    }
    record.restarting = true;
    if (record.restartQueued) {
      return;
    }
    record.restartQueued = true;
    // The connection clears its queue right after this signal; queue the
    // injection once it has, before anything else can run.
    void Promise.resolve().then(() => {
      record.restartQueued = false;
      if (this._records.get(kernel) === record && !kernel.isDisposed) {
        void this.inject(kernel);
      }
    });
  }

  private _onConnectionChanged(
    kernel: Kernel.IKernelConnection,
    status: Kernel.ConnectionStatus
  ): void {
    const record = this._records.get(kernel);
    if (!record) {
      return;
    }
    if (status === 'connected') {
      record.restarting = false;
    } else if (status === 'connecting' && !record.restarting) {
      void this.inject(kernel);
    }
  }

  private _onKernelDisposed(kernel: Kernel.IKernelConnection): void {
    this.untrack(kernel);
  }

  private _settle(
    kernel: Kernel.IKernelConnection,
    record: Private.KernelRecord,
    attempt: number,
    state: KernelInjector.IState
  ): KernelInjector.IState {
    if (record.attempt === attempt) {
      this._setState(kernel, record, state);
    }
    return record.state;
  }

  private _setState(
    kernel: Kernel.IKernelConnection,
    record: Private.KernelRecord,
    state: KernelInjector.IState
  ): void {
    record.state = state;
    if (this._records.get(kernel) === record) {
      this._stateChanged.emit({ kernel, state });
    }
  }

  private _cache: EnvironmentCache;
  private _languageOf: (
    kernel: Kernel.IKernelConnection
  ) => string | null | undefined;
  private _records = new Map<Kernel.IKernelConnection, Private.KernelRecord>();
  private _isDisposed = false;
  private _stateChanged = new Signal<this, KernelInjector.IStateChange>(this);
}

/**
 * The types of the kernel injector.
 */
export namespace KernelInjector {
  /**
   * What the injector needs.
   */
  export interface IOptions {
    /**
     * The environment to set, already in memory.
     */
    cache: EnvironmentCache;
    /**
     * The language of a kernel, known synchronously (from the kernelspecs
     * loaded at startup); `undefined` when unknown, so the injector asks the
     * kernel, and `null` when it has none.
     */
    languageOf?: (
      kernel: Kernel.IKernelConnection
    ) => string | null | undefined;
  }

  /**
   * Where a kernel's secrets stand.
   *
   * - `pending`: an injection is queued or running.
   * - `loaded`: the kernel has set `names`.
   * - `error`: the secrets could not be fetched (`reason: 'fetch'`) or the
   *   kernel could not set them (`reason: 'kernel'`).
   * - `unsupported`: the kernel's language has no injector.
   */
  export type Status = 'pending' | 'loaded' | 'error' | 'unsupported';

  /**
   * The injection state of one kernel. It holds names only, never a value.
   */
  export interface IState {
    readonly status: Status;
    readonly reason?: 'fetch' | 'kernel';
    /**
     * The kernel's language, once known.
     */
    readonly language: string | null;
    /**
     * The names set in the kernel (for `loaded`) or being set (`pending`).
     */
    readonly names: ReadonlyArray<string>;
    /**
     * The names this kernel's language cannot hold.
     */
    readonly skipped: ReadonlyArray<string>;
  }

  /**
   * A kernel whose state changed, and its new state.
   */
  export interface IStateChange {
    readonly kernel: Kernel.IKernelConnection;
    readonly state: IState;
  }
}

namespace Private {
  export const DISPOSED_STATE: KernelInjector.IState = {
    status: 'error',
    reason: 'kernel',
    language: null,
    names: [],
    skipped: []
  };

  /**
   * What the injector knows about one kernel connection.
   */
  export class KernelRecord {
    /**
     * The kernel's language: `undefined` while unknown.
     */
    language: string | null | undefined = undefined;
    state: KernelInjector.IState = {
      status: 'pending',
      language: null,
      names: [],
      skipped: []
    };
    /**
     * Increases with every injection; only the newest one sets the state.
     */
    attempt = 0;
    retries = 0;
    /**
     * Between a restart and the reconnect that follows it.
     */
    restarting = false;
    /**
     * An injection is scheduled for the restart under way.
     */
    restartQueued = false;
  }

  /**
   * Read an execute reply: `ok`, `aborted` or `error`. It looks only at
   * statuses and at the outcome word the code recorded, never at a value.
   */
  export function outcome(
    content: KernelMessage.IExecuteReplyMsg['content'],
    token: string
  ): 'ok' | 'aborted' | 'error' {
    const status = content.status as string;
    if (status === 'abort' || status === 'aborted') {
      return 'aborted';
    }
    if (status !== 'ok') {
      return 'error';
    }
    const expression = (content as KernelMessage.IExecuteReply)
      .user_expressions?.[STATUS_EXPRESSION] as
      { status?: string; data?: Record<string, unknown> } | undefined;
    if (!expression) {
      // The kernel does not evaluate user expressions; the reply decides.
      return 'ok';
    }
    const text = expression.data?.['text/plain'];
    return expression.status === 'ok' &&
      typeof text === 'string' &&
      text.includes(`${token}:ok`)
      ? 'ok'
      : 'error';
  }
}
