import { nullTranslator } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';
import * as React from 'react';
import { act } from 'react';

import { ICommunity, ISecretMeta } from '../../api';
import { meta as secretMeta, mockServer } from '../../__tests__/fakes';
import { SecretsModel } from '../../model';
import { AccessView } from '../accessview';

// React warns about updates outside act() unless told this is a test.
(globalThis as any).IS_REACT_ACT_ENVIRONMENT = true;

const trans = nullTranslator.load('jupyterlab_secrets');

/**
 * The secret these tests look at: `team-key` of `proj-a`.
 */
function meta(extra: Partial<ISecretMeta> = {}): ISecretMeta {
  return secretMeta('team-key', { id: 'id-key', project: 'proj-a', ...extra });
}

/**
 * A server with one secret and some communities. `PUT access` follows the
 * server's rule: only an admin of every community added or removed.
 */
function fakeServer(communities: ICommunity[], secret = meta()) {
  const state = { secret, communities };
  const json = (status: number, body: unknown) => ({ status, body });
  const { client, requests } = mockServer((method, path, body) => {
    if (path === 'secrets') {
      return json(200, { project: 'proj-a', secrets: [state.secret] });
    }
    if (path === 'communities') {
      return json(200, { communities: state.communities });
    }
    if (method === 'PUT' && path === `secrets/${state.secret.id}/access`) {
      const wanted: string[] = JSON.parse(body).communities;
      const current = state.secret.shared_with;
      const changed = [
        ...wanted.filter(c => !current.includes(c)),
        ...current.filter(c => !wanted.includes(c))
      ];
      const refused = changed.find(
        c => !state.communities.find(x => x.name === c)?.is_admin
      );
      if (refused) {
        return json(403, {
          message: `Only an admin of community '${refused}' can change sharing with it.`
        });
      }
      state.secret = { ...state.secret, shared_with: [...wanted].sort() };
      return json(200, state.secret);
    }
    return json(500, { message: 'unexpected' });
  });
  return { client, state, requests };
}

/**
 * Let pending requests, signals and renders run; then let the switches,
 * web components that React's last render set, draw themselves.
 */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await new Promise(resolve => setTimeout(resolve, 0));
    await new Promise(resolve => requestAnimationFrame(() => resolve(null)));
  }
}

/**
 * Render the Access view of the server's secret.
 */
async function renderView(
  communities: ICommunity[],
  secret?: ISecretMeta,
  prefetched = false
) {
  const server = fakeServer(communities, secret);
  const model = new SecretsModel(server.client);
  await model.ready;
  const widget = ReactWidget.create(
    <AccessView
      model={model}
      secretId="id-key"
      communities={prefetched ? communities : undefined}
      trans={trans}
    />
  );
  const node = widget.node;
  await act(async () => {
    Widget.attach(widget, document.body);
    await settle();
  });
  await settle();
  const switchOf = (name: string) =>
    Array.from(node.querySelectorAll('[role="switch"]')).find(
      s => s.textContent === name
    ) as HTMLButtonElement;
  const click = async (name: string) => {
    await act(async () => {
      switchOf(name).click();
      await settle();
    });
    await settle();
  };
  const unmount = async () => {
    await act(async () => widget.dispose());
    model.dispose();
  };
  return { node, model, server, switchOf, click, unmount };
}

describe('AccessView', () => {
  afterEach(() => {
    document.body.innerHTML = '';
  });

  it('labels each switch with its community and describes it', async () => {
    const view = await renderView([
      { name: 'ml-team', is_admin: true, projects: ['proj-a', 'proj-b'] },
      { name: 'data-team', is_admin: false, projects: ['proj-a'] }
    ]);

    const ml = view.switchOf('ml-team');
    const data = view.switchOf('data-team');
    expect(ml.getAttribute('aria-checked')).toBe('false');
    expect(ml.getAttribute('aria-disabled')).toBe('false');
    expect(data.getAttribute('aria-disabled')).toBe('true');
    const reason = document.getElementById(
      data.getAttribute('aria-describedby')!
    );
    expect(reason?.textContent).toBe(
      'Only an admin of data-team can share with it.'
    );
    expect(view.server.requests.map(r => `${r.method} ${r.path}`)).toContain(
      'GET communities'
    );
    await view.unmount();
  });

  it('shares and unshares through the API, following the truth', async () => {
    const view = await renderView(
      [{ name: 'ml-team', is_admin: true, projects: ['proj-a', 'proj-b'] }],
      undefined,
      true
    );

    await view.click('ml-team');

    const put = view.server.requests.find(r => r.method === 'PUT')!;
    expect(put.path).toBe('secrets/id-key/access');
    expect(JSON.parse(put.body)).toEqual({ communities: ['ml-team'] });
    expect(view.server.state.secret.shared_with).toEqual(['ml-team']);
    expect(view.switchOf('ml-team').getAttribute('aria-checked')).toBe('true');
    expect(view.node.textContent).toContain('Project proj-b can use it.');

    await view.click('ml-team');

    expect(view.server.state.secret.shared_with).toEqual([]);
    expect(view.switchOf('ml-team').getAttribute('aria-checked')).toBe('false');
    // The view was handed the communities: it did not fetch them again.
    expect(
      view.server.requests.filter(r => r.path === 'communities')
    ).toHaveLength(0);
    await view.unmount();
  });

  it('shows a refusal and returns the switch to the truth', async () => {
    // The page thinks the user is an admin; the server disagrees.
    const view = await renderView([
      { name: 'ml-team', is_admin: true, projects: ['proj-a', 'proj-b'] }
    ]);
    view.server.state.communities = [
      { name: 'ml-team', is_admin: false, projects: ['proj-a', 'proj-b'] }
    ];

    await view.click('ml-team');

    expect(view.node.querySelector('[role="alert"]')?.textContent).toBe(
      "Only an admin of community 'ml-team' can change sharing with it."
    );
    expect(view.switchOf('ml-team').getAttribute('aria-checked')).toBe('false');
    expect(view.server.state.secret.shared_with).toEqual([]);
    await view.unmount();
  });

  it('ignores a click on a disabled switch', async () => {
    const view = await renderView(
      [{ name: 'ml-team', is_admin: false, projects: ['proj-a', 'proj-b'] }],
      meta({ shared_with: ['ml-team'] })
    );

    await view.click('ml-team');

    expect(view.server.requests.filter(r => r.method === 'PUT')).toEqual([]);
    expect(view.switchOf('ml-team').getAttribute('aria-checked')).toBe('true');
    expect(view.node.textContent).toContain(
      'Only an admin of ml-team can stop sharing with it.'
    );
    await view.unmount();
  });

  it('follows a change made elsewhere', async () => {
    const view = await renderView([
      { name: 'ml-team', is_admin: true, projects: ['proj-a', 'proj-b'] }
    ]);

    view.server.state.secret = meta({ shared_with: ['ml-team'] });
    await act(async () => {
      await view.model.refresh();
      await settle();
    });
    await settle();

    expect(view.switchOf('ml-team').getAttribute('aria-checked')).toBe('true');
    await view.unmount();
  });

  it('says when other projects would list but not inject the secret', async () => {
    const communities = [
      { name: 'ml-team', is_admin: true, projects: ['proj-a', 'proj-b'] }
    ];
    const note =
      'Other projects list this secret when it is shared, but their kernels do not get it under this name: a secret from another project is injected only under a name with a hyphen (such as my-api-key), which no common tool reads. They can Clone it, or you can rename it.';
    const underscore = await renderView(
      communities,
      meta({ name: 'team_key' })
    );
    expect(underscore.node.textContent).toContain(note);
    await underscore.unmount();

    const hyphen = await renderView(communities, meta({ name: 'team-key' }));
    expect(hyphen.switchOf('ml-team')).toBeTruthy();
    expect(hyphen.node.textContent).not.toContain('Other projects list');
    await hyphen.unmount();
  });

  it('explains a project that belongs to no community', async () => {
    const view = await renderView([]);

    expect(view.node.querySelectorAll('[role="switch"]')).toHaveLength(0);
    expect(view.node.textContent).toContain(
      'This secret is not shared with any community: project proj-a belongs to none.'
    );
    await view.unmount();
  });
});
