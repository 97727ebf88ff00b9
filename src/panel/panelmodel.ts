import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { UserActivity } from '../activity';
import { DEFAULT_REFRESH_INTERVAL, ISecretsModel } from '../tokens';
import { FormRequest } from './form';

/**
 * How often relative times are brought up to date while the panel shows.
 */
const CLOCK_INTERVAL = 30 * 1000;

/**
 * Where the focus goes once the list shows again: an item's options
 * button, or the Create button.
 */
export type FocusTarget = { id: string } | 'create';

/**
 * What the Secrets panel shows, apart from the secrets themselves: the
 * open form, the filter, the item pointed out, the open menu, where the
 * focus goes back to, and the clocks that keep the list current. It holds
 * no DOM, so the panel's behaviour can be tested without one.
 */
export class SecretsPanelModel implements IDisposable {
  /**
   * @param options - the secrets, and how often to fetch them while shown
   */
  constructor(options: SecretsPanelModel.IOptions) {
    this.secrets = options.secrets;
    this._confirmDiscard = options.confirmDiscard ?? (async () => true);
    this._activity = new UserActivity({ idleAfter: options.idleAfter });
    // While the panel shows, the list follows changes made elsewhere: in
    // another tab, or on another server of the same store. Nothing is
    // fetched while the browser tab is hidden or idle: tabs left open cost
    // the server nothing, and the next input brings the list up to date.
    const standby = () => this._activity.isIdle || 'when-hidden';
    this._poll = new Poll({
      auto: false,
      factory: () => this.secrets.refresh(),
      frequency: {
        interval: Private.pollInterval(
          options.refreshInterval ?? DEFAULT_REFRESH_INTERVAL
        ),
        backoff: false
      },
      name: 'jupyterlab-secrets:list',
      standby
    });
    // Relative times ("5 minutes ago") move on while the panel shows.
    this._clock = new Poll({
      auto: false,
      factory: async () => this._tick(),
      frequency: { interval: CLOCK_INTERVAL, backoff: false },
      name: 'jupyterlab-secrets:clock',
      standby
    });
    this._activity.resumed.connect(this._onResumed, this);
  }

  /**
   * The secrets the panel shows.
   */
  readonly secrets: ISecretsModel;

  /**
   * Emitted when what the panel shows changes (other than the secrets).
   */
  get stateChanged(): ISignal<this, void> {
    return this._stateChanged;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /**
   * The open form, or `null` when the list shows.
   */
  get form(): FormRequest | null {
    return this._form;
  }

  /**
   * A number that changes whenever a form opens, so each form starts anew.
   */
  get formKey(): number {
    return this._formKey;
  }

  /**
   * The text secret names must contain to be listed.
   */
  get filter(): string {
    return this._filter;
  }
  set filter(value: string) {
    if (value !== this._filter) {
      this._filter = value;
      this._emit();
    }
  }

  /**
   * Whether forms may show a secret's value on request: the
   * `allowShowContent` setting.
   */
  get allowShowValue(): boolean {
    return this._allowShowValue;
  }
  set allowShowValue(value: boolean) {
    if (value !== this._allowShowValue) {
      this._allowShowValue = value;
      this._emit();
    }
  }

  /**
   * How often the list is fetched while the panel shows, in milliseconds;
   * 0 fetches it only when the panel is shown.
   */
  get refreshInterval(): number {
    const interval = this._poll.frequency.interval;
    return interval === Poll.NEVER ? 0 : interval;
  }
  set refreshInterval(value: number) {
    this._poll.frequency = {
      ...this._poll.frequency,
      interval: Private.pollInterval(value)
    };
  }

  /**
   * Whether the first list of secrets has arrived (or failed to).
   */
  get loaded(): boolean {
    return this.secrets.project !== null || this.secrets.error !== null;
  }

  /**
   * The secret to point out in the list, just created or edited.
   */
  get highlight(): string | null {
    return this._highlight;
  }

  /**
   * The secret whose menu is open.
   */
  get menuFor(): string | null {
    return this._menuFor;
  }
  set menuFor(id: string | null) {
    if (id !== this._menuFor) {
      this._menuFor = id;
      this._emit();
    }
  }

  /**
   * The time relative times are computed against.
   */
  get now(): number {
    return this._now;
  }

  /**
   * Open a form in place of the list. A form holding unsent changes is
   * only replaced once the user agrees to discard them.
   *
   * @returns whether the form was opened
   */
  async openForm(request: FormRequest): Promise<boolean> {
    if (this._form && this._formDirty && !(await this._confirmDiscard())) {
      return false;
    }
    this._form = request;
    this._formKey++;
    this._formDirty = false;
    this._highlight = null;
    this._emit();
    return true;
  }

  /**
   * Close the open form and show the list again.
   *
   * @param id - the secret the form created or edited, if any
   */
  closeForm(id: string | null = null): void {
    const form = this._form;
    if (!form) {
      return;
    }
    this._form = null;
    this._formDirty = false;
    this._highlight = id;
    // Give the focus back where the form came from.
    const item = id ?? (form.mode === 'create' ? null : form.secret.id);
    this._focus = item === null ? 'create' : { id: item };
    this._emit();
  }

  /**
   * Record whether the open form holds unsent changes.
   */
  setFormDirty(dirty: boolean): void {
    this._formDirty = dirty;
  }

  /**
   * Where the focus goes once the list shows again. Asked once.
   */
  takeFocusRequest(): FocusTarget | null {
    const target = this._focus;
    this._focus = null;
    return target;
  }

  /**
   * The panel shows: fetch the list now, then now and then, and move the
   * clock on.
   */
  start(): void {
    this._started = true;
    void this.secrets.refresh();
    void this._poll.start();
    void this._clock.start();
    this._tick();
  }

  /**
   * The panel is hidden or detached: fetch nothing, move nothing.
   */
  stop(): void {
    void this._poll.stop();
    void this._clock.stop();
    this._started = false;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._poll.dispose();
    this._clock.dispose();
    this._activity.dispose();
    Signal.clearData(this);
  }

  private _onResumed(): void {
    if (this._started) {
      // Back from idle: what changed meanwhile shows at once.
      void this._poll.refresh();
      this._tick();
    }
  }

  private _tick(): void {
    this._now = Date.now();
    this._emit();
  }

  private _emit(): void {
    if (!this._isDisposed) {
      this._stateChanged.emit();
    }
  }

  private _confirmDiscard: () => Promise<boolean>;
  private _form: FormRequest | null = null;
  private _formKey = 0;
  private _formDirty = false;
  private _filter = '';
  private _allowShowValue = true;
  private _highlight: string | null = null;
  private _menuFor: string | null = null;
  private _focus: FocusTarget | null = null;
  private _now = Date.now();
  private _isDisposed = false;
  private _started = false;
  private _activity: UserActivity;
  private _poll: Poll;
  private _clock: Poll;
  private _stateChanged = new Signal<this, void>(this);
}

/**
 * The statics of the Secrets panel's model.
 */
export namespace SecretsPanelModel {
  /**
   * The options of the Secrets panel's model.
   */
  export interface IOptions {
    /**
     * The secrets to show.
     */
    secrets: ISecretsModel;
    /**
     * How often the list is fetched while the panel shows, in
     * milliseconds; 0 fetches it only when the panel is shown.
     */
    refreshInterval?: number;
    /**
     * After how long without input the list stops being fetched, in
     * milliseconds.
     */
    idleAfter?: number;
    /**
     * Asks the user whether to discard a form's unsent changes.
     */
    confirmDiscard?: () => Promise<boolean>;
  }
}

namespace Private {
  /**
   * The poll interval for a refresh interval: 0 or less never polls.
   */
  export function pollInterval(ms: number): number {
    return ms > 0 ? ms : Poll.NEVER;
  }
}
