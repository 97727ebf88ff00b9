import { IDisposable } from '@lumino/disposable';

/**
 * Runs a refresh now and then while started, so that a list follows
 * changes made elsewhere: in another tab, or on another server sharing the
 * same store.
 *
 * A refresh never overlaps the previous one: the next is planned once it
 * settles. While the browser tab is hidden nothing is fetched; when it
 * shows again, a refresh runs at once.
 */
export class RefreshPoll implements IDisposable {
  /**
   * @param refresh - the refresh to run; its failures are its own business
   * @param interval - the time between two refreshes, in milliseconds;
   * 0 or less turns polling off
   */
  constructor(
    private _refresh: () => Promise<unknown>,
    interval: number
  ) {
    this._interval = interval;
  }

  /**
   * The time between two refreshes, in milliseconds; 0 or less is off.
   */
  get interval(): number {
    return this._interval;
  }
  set interval(value: number) {
    if (value === this._interval) {
      return;
    }
    this._interval = value;
    if (this._started) {
      this._plan();
    }
  }

  /**
   * Whether the poll is started.
   */
  get isStarted(): boolean {
    return this._started;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /**
   * Start polling; the first refresh comes after one interval.
   */
  start(): void {
    if (this._started || this._isDisposed) {
      return;
    }
    this._started = true;
    document.addEventListener('visibilitychange', this._onVisibility);
    this._plan();
  }

  /**
   * Stop polling. A refresh under way settles, but none follows.
   */
  stop(): void {
    if (!this._started) {
      return;
    }
    this._started = false;
    document.removeEventListener('visibilitychange', this._onVisibility);
    this._cancel();
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this.stop();
    this._isDisposed = true;
  }

  /**
   * Plan the next refresh, unless one is under way: it plans its own.
   */
  private _plan(): void {
    this._cancel();
    if (!this._started || this._running || this._interval <= 0) {
      return;
    }
    this._timer = setTimeout(() => {
      this._timer = null;
      void this._tick();
    }, this._interval);
  }

  private _cancel(): void {
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private async _tick(): Promise<void> {
    if (!this._started || this._running) {
      return;
    }
    if (document.visibilityState === 'hidden') {
      // Nothing to follow while no one looks; showing again refreshes.
      return;
    }
    this._running = true;
    try {
      await this._refresh();
    } catch {
      // The refresh reports its own failures.
    } finally {
      this._running = false;
      this._plan();
    }
  }

  private _onVisibility = (): void => {
    if (document.visibilityState === 'visible' && this._interval > 0) {
      this._cancel();
      void this._tick();
    }
  };

  private _interval: number;
  private _started = false;
  private _running = false;
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _isDisposed = false;
}
