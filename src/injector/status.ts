import { ISessionContext } from '@jupyterlab/apputils';
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import { lockIcon } from '@jupyterlab/ui-components';
import { IDisposable } from '@lumino/disposable';
import { Widget } from '@lumino/widgets';

import { IKernelStatus, KernelSecretsTracker } from './tracker';

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
 * Modifier of the item when the secrets could not be set or asked for.
 */
const ERROR_CLASS = 'jp-mod-error';

/**
 * Modifier of the item when the kernel's language cannot hold secrets.
 */
const UNSUPPORTED_CLASS = 'jp-mod-unsupported';

/**
 * Modifier of the item until the kernel's secrets are known.
 */
const PENDING_CLASS = 'jp-mod-pending';

/**
 * A toolbar item that shows how many secrets the kernel of a notebook or
 * console has. Its tooltip lists their names, and the names it skipped
 * with the reasons; it never shows a value.
 */
export class SecretsStatus extends Widget {
  /**
   * @param options - the tracker and the session context to follow
   */
  constructor(options: SecretsStatus.IOptions) {
    super();
    this._tracker = options.tracker;
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
    this._following = this._tracker.follow(this._sessionContext);
    this._tracker.changed.connect(this._onChanged, this);
    this._sessionContext.kernelChanged.connect(this._render, this);
    this._render();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._following.dispose();
    this._tracker.changed.disconnect(this._onChanged, this);
    this._sessionContext.kernelChanged.disconnect(this._render, this);
    super.dispose();
  }

  private get _kernelId(): string | null {
    return this._sessionContext.session?.kernel?.id ?? null;
  }

  private _onChanged(_: KernelSecretsTracker, kernelId: string): void {
    if (kernelId === this._kernelId) {
      this._render();
    }
  }

  private _render(): void {
    if (this.isDisposed) {
      return;
    }
    const status = this._tracker.statusOf(this._kernelId);
    this.removeClass(ERROR_CLASS);
    this.removeClass(UNSUPPORTED_CLASS);
    this.removeClass(PENDING_CLASS);
    if (!status) {
      this.hide();
      return;
    }
    this.show();
    const { text, title, modifier } = describeStatus(status, this._trans);
    if (modifier) {
      this.addClass(modifier);
    }
    this._text.textContent = text;
    this.node.title = title;
  }

  private _tracker: KernelSecretsTracker;
  private _sessionContext: ISessionContext;
  private _following: IDisposable;
  private _trans: TranslationBundle;
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
    tracker: KernelSecretsTracker;
    sessionContext: ISessionContext;
    translator?: ITranslator | null;
  }
}

/**
 * The text, the tooltip and the modifier class that show a kernel's
 * secrets: names only, never a value.
 */
export function describeStatus(
  status: IKernelStatus,
  trans: TranslationBundle
): { text: string; title: string; modifier: string | null } {
  const retry = trans.__(
    'Run "Reload secrets into kernel" from the command palette to try again.'
  );
  switch (status.state) {
    case 'loading':
    case 'pending':
      return {
        text: trans.__('Loading secrets…'),
        title: trans.__('Setting the project secrets in the kernel.'),
        modifier: PENDING_CLASS
      };
    case 'loaded': {
      const count = status.names.length;
      let title =
        count > 0
          ? trans._n(
              '%1 secret loaded in this kernel: %2',
              '%1 secrets loaded in this kernel: %2',
              count,
              status.names.join(', ')
            )
          : trans.__('No secrets loaded in this kernel.');
      if (status.skipped.length > 0) {
        title +=
          '\n' +
          trans.__('Not set in this kernel:') +
          status.skipped
            .map(skip => `\n• ${skip.name}: ${skip.reason}`)
            .join('');
      }
      return {
        text: trans._n('%1 secret', '%1 secrets', count),
        title,
        modifier: null
      };
    }
    case 'unsupported':
      return {
        text: trans.__('Secrets not available in this kernel'),
        title: status.language
          ? trans.__(
              'Secrets cannot be set in %1 kernels. Use a Python, R, Julia or bash kernel.',
              status.language
            )
          : trans.__(
              'Secrets cannot be set in this kind of kernel. Use a Python, R, Julia or bash kernel.'
            ),
        modifier: UNSUPPORTED_CLASS
      };
    case 'error':
      return {
        text: trans.__('Secrets not loaded'),
        title:
          (status.message
            ? trans.__(
                'The kernel could not set the secrets: %1',
                status.message
              )
            : trans.__('The kernel could not set the secrets.')) +
          '\n' +
          retry,
        modifier: ERROR_CLASS
      };
    case 'unavailable':
      return {
        text: trans.__('Secrets unavailable'),
        title:
          trans.__(
            'The server could not tell which secrets this kernel has: %1',
            status.message ?? ''
          ) +
          '\n' +
          retry,
        modifier: ERROR_CLASS
      };
  }
}
