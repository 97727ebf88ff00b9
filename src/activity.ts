import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

/**
 * After how long without input a tab counts as idle, by default. Long
 * enough for a glance at an output, short enough that tabs left open soon
 * cost the server nothing.
 */
export const IDLE_AFTER = 60 * 1000;

/**
 * Whether someone is using this page. It counts as idle once no key was
 * pressed, no pointer moved or clicked, no wheel turned and the tab was not
 * shown again for `idleAfter` milliseconds.
 *
 * The extension's polls stand by while the page is idle, and `resumed` wakes
 * them at the next input, so what they show is current again at once.
 */
export class UserActivity implements IDisposable {
  /**
   * @param options - after how long the page counts as idle
   */
  constructor(options: UserActivity.IOptions = {}) {
    this.idleAfter = options.idleAfter ?? IDLE_AFTER;
    if (typeof document !== 'undefined') {
      for (const type of Private.INPUT_EVENTS) {
        document.addEventListener(type, this._onInput, Private.LISTENING);
      }
      document.addEventListener('visibilitychange', this._onVisibility);
    }
  }

  /**
   * After how long without input the page counts as idle, in milliseconds.
   */
  readonly idleAfter: number;

  /**
   * Whether nobody has used the page for `idleAfter` milliseconds.
   */
  get isIdle(): boolean {
    return Date.now() - this._lastInput > this.idleAfter;
  }

  /**
   * Emitted at the first input after the page was idle.
   */
  get resumed(): ISignal<this, void> {
    return this._resumed;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    if (typeof document !== 'undefined') {
      for (const type of Private.INPUT_EVENTS) {
        document.removeEventListener(type, this._onInput, Private.LISTENING);
      }
      document.removeEventListener('visibilitychange', this._onVisibility);
    }
    Signal.clearData(this);
  }

  private _onInput = (): void => {
    // Pointer moves come often: this stays a clock read and a comparison.
    const wasIdle = this.isIdle;
    this._lastInput = Date.now();
    if (wasIdle) {
      this._resumed.emit();
    }
  };

  private _onVisibility = (): void => {
    if (document.visibilityState === 'visible') {
      this._onInput();
    }
  };

  private _lastInput = Date.now();
  private _isDisposed = false;
  private _resumed = new Signal<this, void>(this);
}

/**
 * The statics of `UserActivity`.
 */
export namespace UserActivity {
  /**
   * The options of `UserActivity`.
   */
  export interface IOptions {
    /**
     * After how long without input the page counts as idle, in
     * milliseconds.
     */
    idleAfter?: number;
  }
}

namespace Private {
  /**
   * What a person does that shows the page is in use.
   */
  export const INPUT_EVENTS = [
    'pointerdown',
    'pointermove',
    'keydown',
    'wheel'
  ];

  /**
   * Heard before any widget can stop them, and never delaying scrolling.
   */
  export const LISTENING = { capture: true, passive: true };
}
