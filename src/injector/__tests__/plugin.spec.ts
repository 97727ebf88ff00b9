import { Notification } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { CommandRegistry } from '@lumino/commands';
import { Widget } from '@lumino/widgets';

import { SecretsClient } from '../../api';
import { SecretsModel } from '../../model';
import { kernelStatusPlugin } from '../plugin';
import {
  FakeKernel,
  FakeSessionContext,
  kernelSecrets,
  kernelServer,
  settle
} from './fakes';

/**
 * Activate the plugin in a minimal application, over the real secrets model
 * and the REST layer of `settings`, with a notebook whose kernel is
 * `kernel`.
 */
function activate(settings: ServerConnection.ISettings, kernel: FakeKernel) {
  const commands = new CommandRegistry();
  const factories = new Map<string, (widget: Widget) => Widget>();
  const model = new SecretsModel(new SecretsClient(settings));
  const panel = { sessionContext: new FakeSessionContext(kernel) };
  const app = {
    commands,
    shell: { currentWidget: panel }
  };
  const notebooks = { currentWidget: panel };
  const toolbarRegistry = {
    addFactory: (kind: string, name: string, factory: any) =>
      factories.set(`${kind}:${name}`, factory)
  };
  // Settings that never arrive, as from a server that does not answer
  const settingRegistry = { load: () => new Promise(() => undefined) };
  const result = kernelStatusPlugin.activate(
    app as any,
    model,
    notebooks,
    null,
    null,
    toolbarRegistry,
    settingRegistry,
    null
  );
  const item = () =>
    factories.get('Notebook:secrets')!(panel as unknown as Widget);
  return { result, commands, model, item, factories };
}

const text = (widget: Widget) =>
  widget.node.querySelector('.jp-SecretsStatus-text')!.textContent;

describe('kernelStatusPlugin', () => {
  it('activates without waiting on the network, and says "loading"', () => {
    // Given a server that never answers
    const settings = ServerConnection.makeSettings({
      baseUrl: 'http://localhost:8888/',
      fetch: (() => new Promise(() => undefined)) as any
    });

    // When the plugin activates
    const { result, item, factories } = activate(
      settings,
      new FakeKernel('k1')
    );

    // Then activation is over at once, and the toolbar item says loading
    expect(result).toBeUndefined();
    expect([...factories.keys()].sort()).toEqual([
      'ConsolePanel:secrets',
      'Notebook:secrets'
    ]);
    expect(text(item())).toBe('Loading secrets…');
  });

  it('asks the server again when the secrets change', async () => {
    const server = kernelServer();
    server.answer('k1', kernelSecrets('k1', { names: ['A_KEY'] }));
    const { model, item } = activate(
      server.client.serverSettings,
      new FakeKernel('k1')
    );
    const widget = item();
    await settle();
    expect(text(widget)).toBe('1 secret');

    server.answer('k1', kernelSecrets('k1', { names: ['A_KEY', 'B_KEY'] }));
    await model.create('B_KEY', 'b-value');
    await settle();

    expect(text(widget)).toBe('2 secrets');
    widget.dispose();
  });

  it('reloads the secrets of the current kernel from the palette command', async () => {
    const server = kernelServer();
    server.answer('k1', kernelSecrets('k1', { names: ['A_KEY', 'B_KEY'] }));
    const { commands } = activate(
      server.client.serverSettings,
      new FakeKernel('k1')
    );
    expect(commands.label('secrets:reload-kernel')).toBe(
      'Reload secrets into kernel'
    );
    expect(commands.isEnabled('secrets:reload-kernel')).toBe(true);

    await commands.execute('secrets:reload-kernel');

    expect(server.requests.map(r => `${r.method} ${r.path}`)).toContain(
      'POST kernels/k1/reload'
    );
    expect(Notification.manager.notifications.map(n => n.message)).toContain(
      '2 secrets loaded into the kernel'
    );
  });

  it('says why a reload failed', async () => {
    const server = kernelServer();
    server.answer('k1', {
      status: 404,
      body: { message: 'This server did not start kernel k1.' }
    });
    const { commands } = activate(
      server.client.serverSettings,
      new FakeKernel('k1')
    );

    await commands.execute('secrets:reload-kernel');

    expect(Notification.manager.notifications.map(n => n.message)).toContain(
      'The secrets could not be reloaded: This server did not start kernel k1.'
    );
  });
});
