import { showDialog, Dialog } from '@jupyterlab/apputils';
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import {
  addIcon,
  filterIcon,
  InputGroup,
  MenuSvg,
  Button,
  ReactWidget,
  SidePanel,
  UseSignal
} from '@jupyterlab/ui-components';
import { CommandRegistry } from '@lumino/commands';
import { Message } from '@lumino/messaging';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';
import { Menu, Panel, Widget } from '@lumino/widgets';
import * as React from 'react';

import { ISecretMeta } from '../api';
import { ISecretsModel } from '../tokens';
import { FormRequest } from './form';
import { SecretForm } from './formview';
import { ITEM_ID_ATTRIBUTE, SecretsList } from './list';

/**
 * The class of the Secrets panel.
 */
const PANEL_CLASS = 'jp-SecretsPanel';

/**
 * The class of the panel's title.
 */
const TITLE_CLASS = 'jp-SecretsPanel-title';

/**
 * The class of the Create button.
 */
const CREATE_CLASS = 'jp-SecretsPanel-create';

/**
 * The class of the filter box.
 */
const FILTER_CLASS = 'jp-SecretsPanel-filter';

/**
 * The class of the body, holding the list or a form.
 */
const BODY_CLASS = 'jp-SecretsPanel-body';

/**
 * The class of an item's menu.
 */
const MENU_CLASS = 'jp-SecretsPanel-menu';

/**
 * How often relative times are brought up to date while the panel shows.
 */
const CLOCK_INTERVAL = 30 * 1000;

/**
 * How often the list is fetched while the panel shows, by default: secrets
 * shared, changed or deleted elsewhere appear within that time.
 */
export const DEFAULT_REFRESH_INTERVAL = 3 * 1000;

/**
 * The Secrets panel: a toolbar with Create and a filter box, then either
 * the list of secrets or a form that replaces it.
 *
 * Values never enter its DOM except inside an open form.
 */
export class SecretsPanel extends SidePanel {
  /**
   * @param options - the model, the commands of the item menus, and the translator
   */
  constructor(options: SecretsPanel.IOptions) {
    super({ content: new Panel(), translator: options.translator });
    // The panel itself is the region; a second one inside, labelled
    // "side panel content", would also answer to the label "Content".
    this.content.node.removeAttribute('role');
    this.content.node.removeAttribute('aria-label');
    this.model = options.model;
    // While the panel shows, the list follows changes made elsewhere: in
    // another tab, or on another server of the same store. Nothing is
    // fetched while the browser tab is hidden.
    this._poll = new Poll({
      auto: false,
      factory: () => this.model.refresh(),
      frequency: {
        interval: Private.pollInterval(
          options.refreshInterval ?? DEFAULT_REFRESH_INTERVAL
        ),
        backoff: false
      },
      name: 'jupyterlab-secrets:list',
      standby: 'when-hidden'
    });
    this.commands = options.commands;
    this.itemMenu = options.itemMenu ?? [];
    const trans = (this.trans = (options.translator ?? nullTranslator).load(
      'jupyterlab_secrets'
    ));
    this.addClass(PANEL_CLASS);

    const title = new Widget({ node: document.createElement('h2') });
    title.addClass(TITLE_CLASS);
    title.node.textContent = trans.__('Secrets');
    this.header.addWidget(title);

    this._createButton = new Private.CreateButton(this);
    this.toolbar.addItem('create', this._createButton);
    this.toolbar.addItem('filter', new Private.FilterBox(this));

    const body = new Private.Body(this);
    body.addClass(BODY_CLASS);
    this.content.addWidget(body);
  }

  /**
   * The secrets the panel shows.
   */
  readonly model: ISecretsModel;

  /**
   * The commands run from an item's menu.
   */
  readonly commands: CommandRegistry;

  /**
   * The commands of an item's menu, in order; `null` is a separator.
   */
  readonly itemMenu: ReadonlyArray<string | null>;

  /**
   * The extension's translation bundle.
   */
  readonly trans: TranslationBundle;

  /**
   * Emitted when what the panel shows changes (other than the model).
   */
  get stateChanged(): ISignal<this, void> {
    return this._stateChanged;
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
      this._stateChanged.emit();
    }
  }

  /**
   * Whether forms may show a secret's content on request.
   */
  get allowShowContent(): boolean {
    return this._allowShowContent;
  }
  set allowShowContent(value: boolean) {
    if (value !== this._allowShowContent) {
      this._allowShowContent = value;
      this._stateChanged.emit();
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
    return this.model.project !== null || this.model.error !== null;
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
    if (this._form && this._formDirty) {
      const result = await showDialog({
        title: this.trans.__('Discard changes?'),
        body: this.trans.__(
          'The open form holds changes that are not saved yet.'
        ),
        buttons: [
          Dialog.cancelButton({ label: this.trans.__('Keep editing') }),
          Dialog.warnButton({ label: this.trans.__('Discard') })
        ]
      });
      if (!result.button.accept) {
        return false;
      }
    }
    this._form = request;
    this._formKey++;
    this._formDirty = false;
    this._highlight = null;
    this.toolbar.hide();
    this._stateChanged.emit();
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
    this._focusRequest = id ?? (form.mode === 'create' ? null : form.secret.id);
    this._focusCreate = this._focusRequest === null;
    this.toolbar.show();
    this._stateChanged.emit();
  }

  /**
   * Record whether the open form holds unsent changes.
   */
  setFormDirty(dirty: boolean): void {
    this._formDirty = dirty;
  }

  /**
   * Open the menu of a listed secret.
   *
   * @param secret - the secret
   * @param anchor - the options button the menu opens below
   * @param byKeyboard - whether to select the first item, for keyboard use
   */
  openMenu(secret: ISecretMeta, anchor: HTMLElement, byKeyboard = false): void {
    this._menu?.dispose();
    const menu = (this._menu = new MenuSvg({
      commands: this.commands,
      renderer: Private.itemMenuRenderer
    }));
    menu.addClass(MENU_CLASS);
    for (const command of this.itemMenu) {
      if (command === null) {
        menu.addItem({ type: 'separator' });
      } else {
        menu.addItem({ command, args: { id: secret.id } });
      }
    }
    menu.aboutToClose.connect(() => {
      this._menuFor = null;
      this._stateChanged.emit();
      if (anchor.isConnected && !this.isHidden) {
        anchor.focus();
      }
    });
    this._menuFor = secret.id;
    this._stateChanged.emit();
    const rect = anchor.getBoundingClientRect();
    menu.open(rect.right, rect.bottom, { horizontalAlignment: 'right' });
    if (byKeyboard) {
      menu.activateNextItem();
    }
  }

  /**
   * Where the focus goes once the list shows again: an item's options
   * button, or the Create button. Asked once.
   */
  takeFocusRequest(): { id: string } | 'create' | null {
    const request = this._focusCreate
      ? 'create'
      : this._focusRequest !== null
        ? { id: this._focusRequest }
        : null;
    this._focusCreate = false;
    this._focusRequest = null;
    return request;
  }

  /**
   * Focus the options button of a listed secret, or the Create button.
   */
  focusTarget(target: { id: string } | 'create'): void {
    if (target === 'create') {
      this._createButton.node.querySelector('button')?.focus();
      return;
    }
    const item = Array.from(
      this.node.querySelectorAll(`[${ITEM_ID_ATTRIBUTE}]`)
    ).find(node => node.getAttribute(ITEM_ID_ATTRIBUTE) === target.id);
    if (item) {
      item.scrollIntoView({ block: 'nearest' });
      item.querySelector('button')?.focus();
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._stopClock();
    this._poll.dispose();
    this._menu?.dispose();
    Signal.clearData(this);
    super.dispose();
  }

  /**
   * Fetch the list anew each time the panel is shown, then now and then
   * while it shows.
   */
  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.model.refresh();
    void this._poll.start();
    this._now = Date.now();
    this._stateChanged.emit();
    this._startClock();
  }

  /**
   * A panel attached already showing gets no show message: poll anyway.
   */
  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this.isVisible) {
      void this._poll.start();
    }
  }

  protected onBeforeDetach(msg: Message): void {
    void this._poll.stop();
    super.onBeforeDetach(msg);
  }

  protected onBeforeHide(msg: Message): void {
    void this._poll.stop();
    this._stopClock();
    this._menu?.dispose();
    super.onBeforeHide(msg);
  }

  private _startClock(): void {
    this._stopClock();
    this._clock = window.setInterval(() => {
      this._now = Date.now();
      this._stateChanged.emit();
    }, CLOCK_INTERVAL);
  }

  private _stopClock(): void {
    if (this._clock !== null) {
      window.clearInterval(this._clock);
      this._clock = null;
    }
  }

  private _createButton: Widget;
  private _form: FormRequest | null = null;
  private _formKey = 0;
  private _formDirty = false;
  private _filter = '';
  private _allowShowContent = true;
  private _highlight: string | null = null;
  private _menuFor: string | null = null;
  private _menu: MenuSvg | null = null;
  private _focusRequest: string | null = null;
  private _focusCreate = false;
  private _now = Date.now();
  private _clock: number | null = null;
  private _poll: Poll;
  private _stateChanged = new Signal<this, void>(this);
}

/**
 * The statics of the Secrets panel.
 */
export namespace SecretsPanel {
  /**
   * The options of the Secrets panel.
   */
  export interface IOptions {
    /**
     * The secrets to show.
     */
    model: ISecretsModel;
    /**
     * The commands an item's menu runs.
     */
    commands: CommandRegistry;
    /**
     * The commands of an item's menu, in order; `null` is a separator.
     * They receive the secret's ID as `id`.
     */
    itemMenu?: ReadonlyArray<string | null>;
    /**
     * How often the list is fetched while the panel shows, in
     * milliseconds; 0 fetches it only when the panel is shown.
     */
    refreshInterval?: number;
    /**
     * The application's translator.
     */
    translator?: ITranslator;
  }
}

namespace Private {
  /**
   * The poll interval for a refresh interval: 0 or less never polls.
   */
  export function pollInterval(ms: number): number {
    return ms > 0 ? ms : Poll.NEVER;
  }

  /**
   * Draws an item menu's entries with their caption as title, so that a
   * disabled entry says why: Edit of a shared secret names its project.
   */
  class ItemMenuRenderer extends MenuSvg.Renderer {
    createItemARIA(
      data: Menu.IRenderData
    ): ReturnType<MenuSvg.Renderer['createItemARIA']> {
      const aria = super.createItemARIA(data);
      const caption = data.item.caption;
      // The entry's element takes these attributes as they are.
      return (caption ? { ...aria, title: caption } : aria) as typeof aria;
    }
  }

  /**
   * The renderer of the item menus.
   */
  export const itemMenuRenderer = new ItemMenuRenderer();

  /**
   * The Create button of the toolbar.
   *
   * A plain button: the toolbar's own buttons announce themselves as
   * pressed toggles, which this is not.
   */
  export class CreateButton extends ReactWidget {
    constructor(private _panel: SecretsPanel) {
      super();
      this.addClass(CREATE_CLASS);
    }

    render(): JSX.Element {
      const trans = this._panel.trans;
      return (
        <Button
          type="button"
          className="jp-mod-styled jp-mod-accept"
          small
          title={trans.__('Create a secret')}
          onClick={() => void this._panel.openForm({ mode: 'create' })}
        >
          <addIcon.react tag="span" elementPosition="center" />
          <span>{trans.__('Create')}</span>
        </Button>
      );
    }
  }

  /**
   * The filter box of the toolbar. Escape clears it.
   */
  export class FilterBox extends ReactWidget {
    constructor(private _panel: SecretsPanel) {
      super();
      this.addClass(FILTER_CLASS);
    }

    render(): JSX.Element {
      const panel = this._panel;
      const trans = panel.trans;
      return (
        <UseSignal signal={panel.stateChanged}>
          {() => (
            <div role="search">
              <InputGroup
                type="text"
                value={panel.filter}
                aria-label={trans.__('Filter secrets')}
                placeholder={trans.__('Filter by name')}
                autoComplete="off"
                spellCheck={false}
                rightIcon={filterIcon}
                onChange={event => {
                  panel.filter = event.target.value;
                }}
                onKeyDown={event => {
                  if (event.key === 'Escape' && panel.filter !== '') {
                    event.preventDefault();
                    event.stopPropagation();
                    panel.filter = '';
                  }
                }}
              />
            </div>
          )}
        </UseSignal>
      );
    }
  }

  /**
   * The body of the panel: the list, or the open form in its place.
   */
  export class Body extends ReactWidget {
    constructor(private _panel: SecretsPanel) {
      super();
    }

    render(): JSX.Element {
      const panel = this._panel;
      return (
        <UseSignal signal={panel.stateChanged}>
          {() =>
            panel.form ? (
              // The form checks names against the list: drawn again when
              // it changes.
              <UseSignal signal={panel.model.changed}>
                {() => (
                  <SecretForm
                    key={panel.formKey}
                    request={panel.form!}
                    model={panel.model}
                    trans={panel.trans}
                    allowShowContent={panel.allowShowContent}
                    onDone={id => panel.closeForm(id)}
                    onDirtyChange={dirty => panel.setFormDirty(dirty)}
                  />
                )}
              </UseSignal>
            ) : (
              <UseSignal signal={panel.model.changed}>
                {() => <ListView panel={panel} />}
              </UseSignal>
            )
          }
        </UseSignal>
      );
    }
  }

  /**
   * The list, wired to the panel; it takes the focus back after a form.
   */
  function ListView(props: { panel: SecretsPanel }): JSX.Element {
    const { panel } = props;
    const onOptions = React.useCallback(
      (secret: ISecretMeta, anchor: HTMLElement, byKeyboard: boolean) =>
        panel.openMenu(secret, anchor, byKeyboard),
      [panel]
    );
    const onRetry = React.useCallback(
      () => void panel.model.refresh(),
      [panel]
    );
    React.useEffect(() => {
      const target = panel.takeFocusRequest();
      if (target) {
        panel.focusTarget(target);
      }
    });
    return (
      <SecretsList
        secrets={panel.model.secrets}
        loaded={panel.loaded}
        error={panel.model.error}
        filter={panel.filter}
        highlight={panel.highlight}
        menuFor={panel.menuFor}
        now={panel.now}
        trans={panel.trans}
        onOptions={onOptions}
        onRetry={onRetry}
      />
    );
  }
}
