import { CommandRegistry } from '@lumino/commands';
import { Widget } from '@lumino/widgets';
import { act } from 'react';

import { ISecretMeta } from '../../api';
import { SecretsModel } from '../../model';
import { SecretsPanel } from '../panel';
import { meta, mockServer } from '../../__tests__/fakes';

// React warns about updates outside act() unless told this is a test.
(globalThis as any).IS_REACT_ACT_ENVIRONMENT = true;
// jsdom lays nothing out, so it cannot scroll.
Element.prototype.scrollIntoView = jest.fn();

/**
 * A panel over the real model, whose REST layer serves these secrets and
 * their values, and records every request.
 */
async function renderPanel(
  secrets: ISecretMeta[],
  values: Record<string, string>
) {
  const requests: string[] = [];
  const bodies: Record<string, string> = {};
  const { client } = mockServer((method, path, body) => {
    requests.push(`${method} ${path}`);
    bodies[`${method} ${path}`] = body;
    const reveal = path.match(/^secrets\/(.+)\/reveal$/);
    if (reveal) {
      return { status: 200, body: { value: values[reveal[1]] } };
    }
    if (method === 'PATCH' || method === 'POST') {
      const id = path.split('/')[1];
      const secret = secrets.find(s => s.id === id) ?? secrets[0];
      return { status: 200, body: secret };
    }
    return { status: 200, body: { project: 'default', secrets } };
  });
  const model = new SecretsModel(client);
  await model.ready;
  const panel = new SecretsPanel({ model, commands: new CommandRegistry() });
  await act(async () => {
    Widget.attach(panel, document.body);
    await Private.settle();
  });
  return { panel, model, requests, bodies };
}

/**
 * Type into a React-controlled field as a user does.
 */
async function type(
  field: HTMLInputElement | HTMLTextAreaElement,
  text: string
) {
  const proto = Object.getPrototypeOf(field);
  const setter = Object.getOwnPropertyDescriptor(proto, 'value')!.set!;
  await act(async () => {
    setter.call(field, text);
    field.dispatchEvent(new Event('input', { bubbles: true }));
    await Private.settle();
  });
}

/**
 * Dispose of a panel, letting React unmount.
 */
async function dispose(panel: SecretsPanel) {
  await act(async () => {
    panel.dispose();
  });
}

function byLabel(panel: SecretsPanel, label: string) {
  const labels = Array.from(panel.node.querySelectorAll('label'));
  const found = labels.find(l => l.textContent === label)!;
  return panel.node.querySelector(`#${CSS.escape(found.htmlFor)}`) as
    HTMLInputElement | HTMLTextAreaElement;
}

function button(panel: SecretsPanel, name: string): HTMLButtonElement {
  return Array.from(panel.node.querySelectorAll('button')).find(
    b => (b.getAttribute('aria-label') ?? b.textContent) === name
  )!;
}

describe('SecretsPanel', () => {
  afterEach(() => {
    document.body.innerHTML = '';
  });

  it('lists own, then shared secrets as ***, and filters them', async () => {
    const { panel } = await renderPanel(
      [
        // Updated by a server whose clock is a little ahead
        meta('api-key', {
          updated_at: new Date(Date.now() + 5000).toISOString()
        }),
        meta('db-password'),
        meta('team-key', {
          origin: 'shared',
          project: 'other',
          editable: false
        })
      ],
      {}
    );

    const names = () =>
      Array.from(
        panel.node.querySelectorAll(
          '.jp-SecretsPanel-item:not([hidden]) .jp-SecretsPanel-itemName'
        )
      ).map(n => n.textContent);
    expect(names()).toEqual(['api-key', 'db-password', 'team-key']);
    expect(panel.node.textContent).toContain('Shared with project');
    expect(
      panel.node.querySelectorAll('.jp-SecretsPanel-itemValue')[0].textContent
    ).toBe('***');
    expect(button(panel, 'Options for api-key')).toBeDefined();
    const times = panel.node.querySelectorAll('time');
    expect(times[0].textContent).toBe('now');
    expect(times[1].textContent).toMatch(/ago$/);

    await type(
      panel.node.querySelector(
        '[aria-label="Filter secrets"]'
      ) as HTMLInputElement,
      'KEY'
    );
    expect(names()).toEqual(['api-key', 'team-key']);
    await dispose(panel);
  });

  it('says why a shared secret is read-only, and when its name clashes', async () => {
    const { panel } = await renderPanel(
      [
        meta('api-key', { shared_with: ['ml-team'] }),
        meta('api-key', {
          id: 'id-shared-api-key',
          origin: 'shared',
          project: 'proj-a',
          editable: false,
          attached: true,
          shadowed: true,
          injected: false,
          not_injected_reason: 'shadowed'
        }),
        meta('team-key', {
          origin: 'shared',
          project: 'proj-a',
          editable: false
        })
      ],
      {}
    );

    const items = Array.from(
      panel.node.querySelectorAll('.jp-SecretsPanel-item')
    ) as HTMLElement[];
    const [own, clashing, shared] = items;
    expect(own.textContent).toContain('Shared with ml-team');
    expect(clashing.textContent).toContain(
      'Added to project · from project proj-a, read-only'
    );
    expect(clashing.textContent).toContain(
      "This project's own secret of the same name wins"
    );
    expect(shared.textContent).toContain(
      'Not added to project · from project proj-a, read-only'
    );
    expect(shared.textContent).not.toContain('wins');
    expect(shared.title).toContain(
      'Shared by project proj-a: read-only here. Clone it to edit a copy.'
    );
    await dispose(panel);
  });

  it('says what the server says of why kernels do not get an item, and nothing of its own', async () => {
    const shared = { origin: 'shared', project: 'proj-a', editable: false };
    const { panel } = await renderPanel(
      [
        // The project's own secret of this name: the server says nothing
        // of the shared one below, so neither does the list.
        meta('same-name'),
        meta('plain-key', { injected: true, not_injected_reason: null }),
        meta('pin', { injected: true, hidden_in_outputs: false }),
        meta('broken-key', {
          injected: false,
          not_injected_reason: 'undecryptable'
        }),
        meta('same-name', {
          ...shared,
          id: 'id-shared-same-name',
          shadowed: false,
          not_injected_reason: 'not_added'
        } as Partial<ISecretMeta>),
        meta('HTTPS_PROXY', {
          ...shared,
          attached: true,
          injected: false,
          not_injected_reason: 'traffic'
        } as Partial<ISecretMeta>),
        meta('GIT_EXTERNAL_DIFF', {
          ...shared,
          attached: true,
          injected: false,
          not_injected_reason: 'shared_name'
        } as Partial<ISecretMeta>),
        meta('api-token-2', {
          ...shared,
          attached: true,
          injected: false,
          not_injected_reason: 'renamed',
          attached_name: 'api-token'
        } as Partial<ISecretMeta>),
        meta('BASH_FUNC_x', {
          injected: false,
          not_injected_reason: 'reserved'
        }),
        meta('PAGER', {
          ...shared,
          attached: true,
          injected: false,
          not_injected_reason: 'reserved'
        } as Partial<ISecretMeta>)
      ],
      {}
    );

    const text = (id: string) =>
      panel.node.querySelector(`[data-secret-id="${id}"]`)!.textContent;
    expect(text('id-plain-key')).not.toMatch(/inject|hide|decrypt|wins/i);
    expect(text('id-pin')).toContain('Too short to hide in outputs');
    expect(text('id-broken-key')).toContain(
      'Cannot be decrypted with the configured key.'
    );
    expect(text('id-shared-same-name')).not.toContain('wins');
    expect(text('id-HTTPS_PROXY')).toContain(
      'Not injected: a name that redirects network traffic is never taken from another project.'
    );
    expect(text('id-GIT_EXTERNAL_DIFF')).toContain(
      "Not injected: a secret from another project reaches kernels only under a name with a hyphen (such as my-api-key), which no common tool reads. Clone it to make it this project's own."
    );
    expect(text('id-api-token-2')).toContain(
      'Renamed by its owner since it was added as api-token: add it again to use it.'
    );
    expect(text('id-BASH_FUNC_x')).toContain(
      'Not injected: this name is reserved, since setting it changes what a shell or an interpreter runs. Rename it to use it.'
    );
    expect(text('id-PAGER')).toContain(
      'Not injected: this name is reserved, since setting it changes what a shell or an interpreter runs.'
    );
    expect(text('id-PAGER')).not.toContain('Rename it');
    expect(
      panel.node.querySelector('[data-secret-id="id-broken-key"]')!.classList
    ).toContain('jp-mod-notInjected');
    expect(
      panel.node.querySelector('[data-secret-id="id-plain-key"]')!.classList
    ).not.toContain('jp-mod-notInjected');
    await dispose(panel);
  });

  it('explains the empty list with code that reads a secret', async () => {
    const { panel } = await renderPanel([], {});

    expect(panel.node.textContent).toContain("os.environ['<name>']");
    expect(panel.node.textContent).toContain('printenv <name>');
    expect(panel.node.textContent).not.toContain('Shared with project');
    await dispose(panel);
  });

  it('shows a value only inside the open Edit form, once asked for', async () => {
    const { panel, requests } = await renderPanel([meta('api-key')], {
      'id-api-key': 'the-stored-value'
    });
    const reveals = () =>
      requests.filter(r => r === 'POST secrets/id-api-key/reveal').length;
    expect(document.body.innerHTML).not.toContain('the-stored-value');

    await act(async () => {
      await panel.openForm({ mode: 'edit', secret: meta('api-key') });
      await Private.settle();
    });
    const valueField = byLabel(panel, 'Content');
    expect(reveals()).toBe(0);
    expect(valueField.value).toBe('');
    expect(valueField.placeholder).toBe('Leave empty to keep the stored value');
    expect(byLabel(panel, 'Name')).toBe(document.activeElement);
    expect(button(panel, 'Save')).toBeDefined();

    await act(async () => {
      button(panel, 'Show content').click();
      await Private.settle();
    });
    expect(reveals()).toBe(1);
    expect(valueField.value).toBe('the-stored-value');
    expect(valueField.classList).not.toContain('jp-mod-masked');

    // Hiding and showing again fetches nothing more
    await act(async () => {
      button(panel, 'Hide content').click();
      await Private.settle();
    });
    expect(valueField.classList).toContain('jp-mod-masked');
    await act(async () => {
      button(panel, 'Show content').click();
      await Private.settle();
    });
    expect(reveals()).toBe(1);

    await act(async () => {
      button(panel, 'Cancel').click();
      await Private.settle();
    });
    expect(panel.node.querySelector('form')).toBeNull();
    expect(document.body.innerHTML).not.toContain('the-stored-value');
    await dispose(panel);
  });

  it('renames a secret without ever fetching its value', async () => {
    const { panel, requests, bodies } = await renderPanel(
      [meta('api-key', { version: 4 })],
      { 'id-api-key': 'the-stored-value' }
    );
    await act(async () => {
      await panel.openForm({
        mode: 'edit',
        secret: meta('api-key', { version: 4 })
      });
      await Private.settle();
    });

    await type(byLabel(panel, 'Name'), 'api-key-renamed');
    await act(async () => {
      button(panel, 'Save').click();
      await Private.settle();
    });

    expect(requests.filter(r => r.endsWith('/reveal'))).toEqual([]);
    expect(requests).toContain('PATCH secrets/id-api-key');
    expect(JSON.parse(bodies['PATCH secrets/id-api-key'])).toEqual({
      version: 4,
      name: 'api-key-renamed'
    });
    expect(panel.node.querySelector('form')).toBeNull();
    await dispose(panel);
  });

  it('replaces a value typed over the stored one without fetching it', async () => {
    const { panel, requests, bodies } = await renderPanel([meta('api-key')], {
      'id-api-key': 'the-stored-value'
    });
    await act(async () => {
      await panel.openForm({ mode: 'edit', secret: meta('api-key') });
      await Private.settle();
    });

    await type(byLabel(panel, 'Content'), 'a new value');
    await act(async () => {
      button(panel, 'Save').click();
      await Private.settle();
    });

    expect(requests.filter(r => r.endsWith('/reveal'))).toEqual([]);
    expect(JSON.parse(bodies['PATCH secrets/id-api-key'])).toEqual({
      version: 1,
      value: 'a new value'
    });
    await dispose(panel);
  });

  it('clones a secret with its stored value without fetching it', async () => {
    const { panel, requests, bodies } = await renderPanel([meta('api-key')], {
      'id-api-key': 'the-stored-value'
    });
    await act(async () => {
      await panel.openForm({ mode: 'copy', secret: meta('api-key') });
      await Private.settle();
    });
    expect((byLabel(panel, 'Name') as HTMLInputElement).value).toBe(
      'api-key-copy'
    );

    await act(async () => {
      (
        panel.node.querySelector('form button[type="submit"]') as HTMLElement
      ).click();
      await Private.settle();
    });

    expect(requests.filter(r => r.endsWith('/reveal'))).toEqual([]);
    expect(JSON.parse(bodies['POST secrets/id-api-key/copy'])).toEqual({
      name: 'api-key-copy'
    });
    await dispose(panel);
  });

  it('checks names as the server does, and says what a traffic name means', async () => {
    const { panel } = await renderPanel([], {});
    await act(async () => {
      await panel.openForm({ mode: 'create' });
      await Private.settle();
    });
    const name = byLabel(panel, 'Name');
    const [problem, hint] = name
      .getAttribute('aria-describedby')!
      .split(' ')
      .map(id => document.getElementById(id)!);

    await type(name, 'home');
    expect(problem.textContent).toMatch(/reserved/);
    await type(name, 'PYTHONWARNINGS');
    expect(problem.textContent).toMatch(/starting with "PYTHON" are reserved/);
    await type(name, 'HTTPS_PROXY');
    expect(problem.textContent).toBe('');
    expect(hint.textContent).toContain('This name redirects network traffic');
    await type(name, 'my-api-key');
    expect(hint.textContent).not.toContain('traffic');
    await dispose(panel);
  });

  it('refuses an invalid name in the Create form without a request', async () => {
    const { panel, requests } = await renderPanel([meta('api-key')], {});
    await act(async () => {
      await panel.openForm({ mode: 'create' });
      await Private.settle();
    });
    const name = byLabel(panel, 'Name');

    await type(name, 'api-key');
    expect(name.getAttribute('aria-invalid')).toBe('true');
    const reason = document.getElementById(
      name.getAttribute('aria-describedby')!.split(' ')[0]
    );
    expect(reason?.textContent).toMatch(/already exists/);

    await act(async () => {
      button(panel, 'Create').click();
      await Private.settle();
    });
    expect(requests.filter(r => r.startsWith('POST'))).toEqual([]);
    expect(panel.node.querySelector('form')).not.toBeNull();
    await dispose(panel);
  });
});

namespace Private {
  /**
   * Let pending requests, signals and renders run.
   */
  export async function settle(): Promise<void> {
    for (let i = 0; i < 5; i++) {
      await new Promise(resolve => setTimeout(resolve, 0));
      await new Promise(resolve => requestAnimationFrame(() => resolve(null)));
    }
  }
}
