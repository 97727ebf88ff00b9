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
import { Menu, Panel, Widget } from '@lumino/widgets';
import * as React from 'react';

import { ISecretMeta } from '../api';
import { ISecretsModel } from '../tokens';
import { FormRequest } from './form';
import { SecretForm } from './formview';
import { ITEM_CLASS, ITEM_ID_ATTRIBUTE, SecretsList } from './list';
import { FocusTarget, SecretsPanelModel } from './panelmodel';

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
    const trans = (this.trans = (options.translator ?? nullTranslator).load(
      'jupyterlab_secrets'
    ));
    this.model = new SecretsPanelModel({
      secrets: options.model,
      refreshInterval: options.refreshInterval,
      confirmDiscard: () => Private.confirmDiscard(trans)
    });
    this.model.stateChanged.connect(this._onStateChanged, this);
    this.commands = options.commands;
    this.itemMenu = options.itemMenu ?? [];
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
   * What the panel shows: the open form, the filter, and the secrets.
   */
  readonly model: SecretsPanelModel;

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
   * The selector of a listed secret, where its context menu opens.
   */
  static readonly itemSelector = `.${ITEM_CLASS}`;

  /**
   * The ID of the listed secret a node belongs to, or `null`: what a right
   * click was on.
   */
  secretIdAt(node: HTMLElement): string | null {
    const item = node.closest(SecretsPanel.itemSelector);
    return item && this.node.contains(item)
      ? item.getAttribute(ITEM_ID_ATTRIBUTE)
      : null;
  }

  /**
   * Open a form in place of the list; see `SecretsPanelModel.openForm`.
   */
  openForm(request: FormRequest): Promise<boolean> {
    return this.model.openForm(request);
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
      this.model.menuFor = null;
      if (anchor.isConnected && !this.isHidden) {
        anchor.focus();
      }
    });
    this.model.menuFor = secret.id;
    const rect = anchor.getBoundingClientRect();
    menu.open(rect.right, rect.bottom, { horizontalAlignment: 'right' });
    if (byKeyboard) {
      menu.activateNextItem();
    }
  }

  /**
   * Focus the options button of a listed secret, or the Create button.
   */
  focusTarget(target: FocusTarget): void {
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
    this.model.dispose();
    this._menu?.dispose();
    super.dispose();
  }

  /**
   * Fetch the list anew each time the panel is shown, then now and then
   * while it shows.
   */
  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.model.start();
  }

  /**
   * A panel attached already showing gets no show message: start anyway.
   */
  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this.isVisible) {
      this.model.start();
    }
  }

  protected onBeforeDetach(msg: Message): void {
    this.model.stop();
    super.onBeforeDetach(msg);
  }

  protected onBeforeHide(msg: Message): void {
    this.model.stop();
    this._menu?.dispose();
    super.onBeforeHide(msg);
  }

  /**
   * The toolbar gives way to an open form.
   */
  private _onStateChanged(): void {
    this.toolbar.setHidden(this.model.form !== null);
  }

  private _createButton: Widget;
  private _menu: MenuSvg | null = null;
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
   * Ask whether to discard the unsent changes of the open form.
   */
  export async function confirmDiscard(
    trans: TranslationBundle
  ): Promise<boolean> {
    const result = await showDialog({
      title: trans.__('Discard changes?'),
      body: trans.__('The open form holds changes that are not saved yet.'),
      buttons: [
        Dialog.cancelButton({ label: trans.__('Keep editing') }),
        Dialog.warnButton({ label: trans.__('Discard') })
      ]
    });
    return result.button.accept;
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
          onClick={() => void this._panel.model.openForm({ mode: 'create' })}
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
      const model = this._panel.model;
      const trans = this._panel.trans;
      return (
        <UseSignal signal={model.stateChanged}>
          {() => (
            <div role="search">
              <InputGroup
                type="text"
                value={model.filter}
                aria-label={trans.__('Filter secrets')}
                placeholder={trans.__('Filter by name')}
                autoComplete="off"
                spellCheck={false}
                rightIcon={filterIcon}
                onChange={event => {
                  model.filter = event.target.value;
                }}
                onKeyDown={event => {
                  if (event.key === 'Escape' && model.filter !== '') {
                    event.preventDefault();
                    event.stopPropagation();
                    model.filter = '';
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
      const model = panel.model;
      return (
        <UseSignal signal={model.stateChanged}>
          {() => (
            // The form checks names against the list, and the list shows
            // it: both are drawn again when it changes.
            <UseSignal signal={model.secrets.changed}>
              {() =>
                model.form ? (
                  <SecretForm
                    key={model.formKey}
                    request={model.form}
                    model={model.secrets}
                    trans={panel.trans}
                    allowShowValue={model.allowShowValue}
                    onDone={id => model.closeForm(id)}
                    onDirtyChange={dirty => model.setFormDirty(dirty)}
                  />
                ) : (
                  <ListView panel={panel} />
                )
              }
            </UseSignal>
          )}
        </UseSignal>
      );
    }
  }

  /**
   * The list, wired to the panel; it takes the focus back after a form.
   */
  function ListView(props: { panel: SecretsPanel }): JSX.Element {
    const { panel } = props;
    const model = panel.model;
    const onOptions = React.useCallback(
      (secret: ISecretMeta, anchor: HTMLElement, byKeyboard: boolean) =>
        panel.openMenu(secret, anchor, byKeyboard),
      [panel]
    );
    const onRetry = React.useCallback(
      () => void model.secrets.refresh(),
      [model]
    );
    React.useEffect(() => {
      const target = model.takeFocusRequest();
      if (target) {
        panel.focusTarget(target);
      }
    });
    return (
      <SecretsList
        secrets={model.secrets.secrets}
        loaded={model.loaded}
        error={model.secrets.error}
        filter={model.filter}
        highlight={model.highlight}
        menuFor={model.menuFor}
        now={model.now}
        trans={panel.trans}
        onOptions={onOptions}
        onRetry={onRetry}
      />
    );
  }
}
