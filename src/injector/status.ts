import { ISessionContext } from '@jupyterlab/apputils';
import { Kernel } from '@jupyterlab/services';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { lockIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { KernelInjector } from './injector';

/**
 * The toolbar item.
 */
const STATUS_CLASS = 'jp-SecretsStatus';

/**
 * The item's icon.
 */
const ICON_CLASS = 'jp-SecretsStatus-icon';

/**
 * The item's text.
 */
const TEXT_CLASS = 'jp-SecretsStatus-text';

/**
 * Modifier of the item when the secrets could not be set.
 */
const ERROR_CLASS = 'jp-mod-error';

/**
 * Modifier of the item when the kernel's language cannot hold secrets.
 */
const UNSUPPORTED_CLASS = 'jp-mod-unsupported';

/**
 * Modifier of the item while an injection is under way.
 */
const PENDING_CLASS = 'jp-mod-pending';

/**
 * A toolbar item that shows how many secrets the kernel of a notebook or
 * console has loaded. Its tooltip lists their names; it never shows a value.
 */
export class SecretsStatus extends Widget {
  /**
   * @param options - the injector and the session context to follow
   */
  constructor(options: SecretsStatus.IOptions) {
    super();
    this._injector = options.injector;
    this._sessionContext = options.sessionContext;
    this._trans = (options.translator ?? nullTranslator).load(
      'jupyterlab_secrets'
    );
    this.addClass(STATUS_CLASS);
    this.node.setAttribute('role', 'status');
    this.node.setAttribute('aria-label', this._trans.__('Kernel secrets'));
    lockIcon.element({
      container: this.node.appendChild(document.createElement('span')),
      className: ICON_CLASS,
      tag: 'span'
    });
    this._text = this.node.appendChild(document.createElement('span'));
    this._text.className = TEXT_CLASS;
    this._injector.stateChanged.connect(this._onStateChanged, this);
    this._sessionContext.kernelChanged.connect(this._refresh, this);
    this._refresh();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._injector.stateChanged.disconnect(this._onStateChanged, this);
    this._sessionContext.kernelChanged.disconnect(this._refresh, this);
    super.dispose();
  }

  private get _kernel(): Kernel.IKernelConnection | null {
    return this._sessionContext.session?.kernel ?? null;
  }

  private _onStateChanged(
    _: KernelInjector,
    change: KernelInjector.IStateChange
  ): void {
    if (change.kernel === this._kernel) {
      this._refresh();
    }
  }

  private _refresh(): void {
    if (this.isDisposed) {
      return;
    }
    const state = this._injector.stateOf(this._kernel);
    const trans = this._trans;
    let text = '';
    let title = '';
    this.removeClass(ERROR_CLASS);
    this.removeClass(UNSUPPORTED_CLASS);
    this.removeClass(PENDING_CLASS);
    if (!state) {
      this.hide();
      return;
    }
    this.show();
    switch (state.status) {
      case 'pending':
        this.addClass(PENDING_CLASS);
        text = trans.__('Loading secrets…');
        title = trans.__('Setting the project secrets in the kernel.');
        break;
      case 'loaded':
        text = trans._n('%1 secret', '%1 secrets', state.names.length);
        title =
          state.names.length > 0
            ? trans._n(
                '%1 secret loaded in this kernel: %2',
                '%1 secrets loaded in this kernel: %2',
                state.names.length,
                state.names.join(', ')
              )
            : trans.__('No secrets loaded in this kernel.');
        if (state.skipped.length > 0) {
          title +=
            '\n' +
            trans.__(
              'Not available in this kernel (the name is not valid here): %1',
              state.skipped.join(', ')
            );
        }
        break;
      case 'unsupported':
        this.addClass(UNSUPPORTED_CLASS);
        text = trans.__('Secrets not available in this kernel');
        title = trans.__(
          'Secrets cannot be set in %1 kernels. Use a Python, R, Julia or bash kernel.',
          state.language ?? trans.__('this kind of')
        );
        break;
      case 'error':
        this.addClass(ERROR_CLASS);
        if (state.reason === 'fetch') {
          text = trans.__('Secrets unavailable');
          title = trans.__(
            'The secrets could not be fetched from the server. Run "Reload secrets into kernel" to try again.'
          );
        } else {
          text = trans.__('Secrets not loaded');
          title = trans.__(
            'The kernel could not set the secrets. Run "Reload secrets into kernel" to try again.'
          );
        }
        break;
    }
    this._text.textContent = text;
    this.node.title = title;
  }

  private _injector: KernelInjector;
  private _sessionContext: ISessionContext;
  private _trans: ReturnType<ITranslator['load']>;
  private _text: HTMLElement;
}

/**
 * The types of the secrets status item.
 */
export namespace SecretsStatus {
  /**
   * What the item follows.
   */
  export interface IOptions {
    injector: KernelInjector;
    sessionContext: ISessionContext;
    translator?: ITranslator | null;
  }
}
