import { ContextMenuSvg } from '@jupyterlab/ui-components';
import { CommandRegistry } from '@lumino/commands';
import { Widget } from '@lumino/widgets';
import { act } from 'react';

import { meta, mockServer } from '../../__tests__/fakes';
import { SecretsModel } from '../../model';
import { CommandIDs } from '../commands';
import { SecretsPanel } from '../panel';
import { panelPlugin } from '../plugin';

// React warns about updates outside act() unless told this is a test.
(globalThis as any).IS_REACT_ACT_ENVIRONMENT = true;
// jsdom lays nothing out, so it cannot scroll.
Element.prototype.scrollIntoView = jest.fn();

/**
 * The panel plugin, activated in a minimal application over the real model,
 * whose REST layer lists an own secret and a shared one and keeps the own
 * one's versions.
 */
async function activatePanel() {
  const server = mockServer((method, path) => {
    if (method === 'GET' && path === 'secrets') {
      return {
        status: 200,
        body: {
          project: 'default',
          secrets: [
            meta('api-key', { version: 2 }),
            meta('team-key', {
              origin: 'shared',
              project: 'other',
              editable: false
            })
          ]
        }
      };
    }
    if (method === 'GET' && path === 'secrets/id-api-key/versions') {
      return {
        status: 200,
        body: {
          versions: [
            {
              version: 2,
              updated_at: '2026-01-02T00:00:00.000Z',
              updated_by: 'alice',
              current: true
            }
          ]
        }
      };
    }
    return { status: 404, body: { message: 'Not found' } };
  });
  const model = new SecretsModel(server.client);
  await model.ready;
  const commands = new CommandRegistry();
  const contextMenu = new ContextMenuSvg({ commands });
  let rightClicked: MouseEvent | null = null;
  let panel: SecretsPanel | null = null;
  // What JupyterLab's application does with a right click: it opens the
  // context menu, and commands ask it which node the click was on.
  const app = {
    commands,
    contextMenu,
    contextMenuHitTest(test: (node: HTMLElement) => boolean) {
      let node = rightClicked?.target as Node | null;
      while (node) {
        if (node instanceof HTMLElement && test(node)) {
          return node;
        }
        node = node.parentNode;
      }
      return undefined;
    },
    shell: {
      add: (widget: Widget) => {
        panel = widget as SecretsPanel;
      },
      activateById: () => undefined
    }
  };
  panelPlugin.activate(app as any, model, null, null, null, null);
  await act(async () => {
    Widget.attach(panel!, document.body);
    await settle();
  });

  const rightClick = async (target: Element) => {
    const open = (event: Event) => {
      rightClicked = event as MouseEvent;
      contextMenu.open(event as MouseEvent);
    };
    document.addEventListener('contextmenu', open, { once: true });
    target.dispatchEvent(
      new MouseEvent('contextmenu', { bubbles: true, cancelable: true })
    );
    await settle();
  };
  return { panel: panel!, model, server, rightClick, contextMenu, commands };
}

/**
 * Let pending requests, signals and renders run.
 */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await new Promise(resolve => setTimeout(resolve, 0));
    await new Promise(resolve => requestAnimationFrame(() => resolve(null)));
  }
}

/**
 * The listed secret called `name`.
 */
function item(panel: SecretsPanel, name: string): HTMLElement {
  return panel.node.querySelector(
    `[data-secret-id="id-${name}"]`
  ) as HTMLElement;
}

/**
 * The entries the open menu shows: their labels, and whether each is
 * enabled.
 */
function menuEntries(): Array<[string, boolean]> {
  const menu = document.querySelector('.lm-Menu');
  return Array.from(
    menu?.querySelectorAll('[role="menuitem"]:not(.lm-mod-hidden)') ?? []
  ).map(entry => [
    entry.querySelector('.lm-Menu-itemLabel')!.textContent!,
    entry.getAttribute('aria-disabled') !== 'true'
  ]);
}

/**
 * Choose an entry of the open menu with the keyboard, as a person would:
 * arrow down to it, then Enter.
 */
async function chooseEntry(label: string): Promise<void> {
  const menu = document.querySelector('.lm-Menu') as HTMLElement;
  const key = (keyCode: number) =>
    menu.dispatchEvent(
      new KeyboardEvent('keydown', { bubbles: true, keyCode } as any)
    );
  for (let i = 0; i < 20; i++) {
    const active = menu.querySelector('.lm-Menu-item.lm-mod-active');
    if (active?.querySelector('.lm-Menu-itemLabel')?.textContent === label) {
      await act(async () => {
        key(13);
        await settle();
      });
      return;
    }
    key(40);
    // The menu draws the active entry at the next frame.
    await settle();
  }
  throw new Error(`No entry "${label}" in the open menu`);
}

/**
 * The title of the open dialog, if any.
 */
function dialogTitle(): string | null {
  return document.querySelector('.jp-Dialog-header')?.textContent ?? null;
}

/**
 * Close the open dialog, so that the next one can show.
 */
async function closeDialog(): Promise<void> {
  const close = Array.from(document.querySelectorAll('.jp-Dialog button')).find(
    button => button.textContent?.trim() === 'Close'
  ) as HTMLElement;
  await act(async () => {
    close.click();
    await settle();
  });
  expect(dialogTitle()).toBeNull();
}

describe("A listed secret's options", () => {
  afterEach(() => {
    document.body.innerHTML = '';
  });

  it('hold History in the options button menu, which shows that secret', async () => {
    // Given the panel listing an own secret
    const { panel, server, model } = await activatePanel();

    // When the user opens its options menu
    const options = item(panel, 'api-key').querySelector(
      'button[aria-label="Options for api-key"]'
    ) as HTMLButtonElement;
    await act(async () => {
      options.click();
      await settle();
    });

    // Then History is there, enabled, after the other options
    const entries = menuEntries();
    expect(entries.map(([label]) => label)).toEqual([
      'Clone',
      'Edit',
      'Delete',
      'Access',
      'Copy snippet',
      'History'
    ]);
    expect(entries).toContainEqual(['History', true]);

    // And choosing it shows that secret's versions
    await chooseEntry('History');
    expect(dialogTitle()).toBe('History of "api-key"');
    expect(server.requests.map(r => `${r.method} ${r.path}`)).toContain(
      'GET secrets/id-api-key/versions'
    );
    expect(
      document.querySelector('li[aria-label="Version 2"]')!.textContent
    ).toContain('Version 2 (current)');
    await closeDialog();
    model.dispose();
  });

  it('hold History in the right-click menu, which shows that secret', async () => {
    // Given the panel listing an own secret and a shared one
    const { panel, server, rightClick, model } = await activatePanel();

    // When the user right-clicks the shared one, History is there but
    // disabled: its history is kept by the project that owns it
    await rightClick(item(panel, 'team-key').querySelector('time')!);
    expect(menuEntries()).toContainEqual(['History', false]);
    document
      .querySelector('.lm-Menu')!
      .dispatchEvent(
        new KeyboardEvent('keydown', { bubbles: true, keyCode: 27 } as any)
      );
    await settle();

    // When the user right-clicks the name of the own one
    await rightClick(item(panel, 'api-key').querySelector('span')!);

    // Then the menu holds the same options as its options button
    expect(menuEntries().map(([label]) => label)).toEqual([
      'Clone',
      'Edit',
      'Delete',
      'Access',
      'Copy snippet',
      'History'
    ]);
    expect(menuEntries()).toContainEqual(['History', true]);

    // And choosing History shows the versions of the secret clicked
    await chooseEntry('History');
    expect(dialogTitle()).toBe('History of "api-key"');
    expect(server.requests.map(r => `${r.method} ${r.path}`)).toContain(
      'GET secrets/id-api-key/versions'
    );
    await closeDialog();
    model.dispose();
  });

  it("say why a shared secret's Access and History are not offered", async () => {
    // Given the panel listing an own secret and one shared by project other
    const { commands, model } = await activatePanel();
    const own = { id: 'id-api-key' };
    const shared = { id: 'id-team-key' };

    // Then Access and History are offered for the own one only, and their
    // captions say who keeps the shared one
    for (const id of [CommandIDs.access, CommandIDs.history]) {
      expect(commands.isEnabled(id, own)).toBe(true);
      expect(commands.isEnabled(id, shared)).toBe(false);
    }
    expect(commands.caption(CommandIDs.access, own)).toBe(
      'Share this secret with the communities of the project'
    );
    expect(commands.caption(CommandIDs.access, shared)).toBe(
      'Shared by project other: only that project decides who it is shared with.'
    );
    expect(commands.caption(CommandIDs.history, own)).toBe(
      'Show the versions and the activity of this secret'
    );
    expect(commands.caption(CommandIDs.history, shared)).toBe(
      'Shared by project other: its history is kept there.'
    );
    model.dispose();
  });
});
