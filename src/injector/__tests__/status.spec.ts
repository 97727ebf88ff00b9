import { Signal } from '@lumino/signaling';

import { SecretsStatus } from '../status';
import { asKernel, FakeKernel, setup } from './fakes';

/**
 * The parts of a session context the item follows.
 */
class FakeSessionContext {
  constructor(kernel: FakeKernel | null) {
    this.session = { kernel: kernel ? asKernel(kernel) : null };
  }

  session: { kernel: any };
  readonly kernelChanged = new Signal<this, any>(this);

  setKernel(kernel: FakeKernel) {
    const oldValue = this.session.kernel;
    this.session = { kernel: asKernel(kernel) };
    this.kernelChanged.emit({
      name: 'kernel',
      oldValue,
      newValue: this.session.kernel
    });
  }
}

async function statusFor(
  environment: Record<string, string> | null,
  kernel: FakeKernel | null
) {
  const { injector } = await setup(environment);
  const context = new FakeSessionContext(kernel);
  injector.watch(context as any, kernel ? asKernel(kernel) : null);
  const item = new SecretsStatus({
    injector,
    sessionContext: context as any
  });
  return { injector, context, item };
}

const text = (item: SecretsStatus) =>
  item.node.querySelector('.jp-SecretsStatus-text')!.textContent;

describe('SecretsStatus', () => {
  it('is a status named "Kernel secrets"', async () => {
    const { item } = await statusFor({ A_KEY: 'a' }, new FakeKernel());

    expect(item.node.getAttribute('role')).toBe('status');
    expect(item.node.getAttribute('aria-label')).toBe('Kernel secrets');
  });

  it('is hidden without a kernel', async () => {
    const { item } = await statusFor({ A_KEY: 'a' }, null);

    expect(item.isHidden).toBe(true);
  });

  it('says secrets are loading until the kernel confirms', async () => {
    const { item } = await statusFor({ A_KEY: 'a' }, new FakeKernel());

    expect(text(item)).toBe('Loading secrets…');
    expect(item.hasClass('jp-mod-pending')).toBe(true);
  });

  it('counts the loaded secrets, and lists their names only', async () => {
    const kernel = new FakeKernel();
    const { item } = await statusFor(
      { B_KEY: 'value-b-do-not-show', A_KEY: 'value-a-do-not-show' },
      kernel
    );

    await kernel.answer('ok');

    expect(text(item)).toBe('2 secrets');
    expect(item.node.title).toBe(
      '2 secrets loaded in this kernel: A_KEY, B_KEY'
    );
    expect(item.node.outerHTML).not.toContain('do-not-show');
  });

  it('counts one secret in the singular', async () => {
    const kernel = new FakeKernel();
    const { item } = await statusFor({ A_KEY: 'a' }, kernel);

    await kernel.answer('ok');

    expect(text(item)).toBe('1 secret');
  });

  it('names the secrets the kernel cannot hold', async () => {
    const kernel = new FakeKernel('bash', 'bash');
    const { item } = await statusFor({ A_KEY: 'a', 'my-key': 'b' }, kernel);

    await kernel.answer('no-expressions');

    expect(text(item)).toBe('1 secret');
    expect(item.node.title).toContain('Not available in this kernel');
    expect(item.node.title).toContain('my-key');
  });

  it('says secrets are not available in a kernel of another language', async () => {
    const { item } = await statusFor(
      { A_KEY: 'a' },
      new FakeKernel('node', 'javascript')
    );
    await new Promise(resolve => setTimeout(resolve, 0));

    expect(text(item)).toBe('Secrets not available in this kernel');
    expect(item.hasClass('jp-mod-unsupported')).toBe(true);
    expect(item.node.title).toContain('javascript');
  });

  it('shows an error when the kernel could not set them', async () => {
    const kernel = new FakeKernel();
    const { item } = await statusFor({ A_KEY: 'a' }, kernel);

    await kernel.answer('failed');

    expect(text(item)).toBe('Secrets not loaded');
    expect(item.hasClass('jp-mod-error')).toBe(true);
    expect(item.node.title).toContain('Reload secrets into kernel');
  });

  it('shows an error when the secrets could not be fetched', async () => {
    const { item } = await statusFor(null, new FakeKernel());

    expect(text(item)).toBe('Secrets unavailable');
    expect(item.hasClass('jp-mod-error')).toBe(true);
  });

  it('follows the session to a new kernel', async () => {
    const first = new FakeKernel();
    const { item, context } = await statusFor({ A_KEY: 'a' }, first);
    await first.answer('ok');

    const second = new FakeKernel('node', 'javascript');
    context.setKernel(second);
    await new Promise(resolve => setTimeout(resolve, 0));

    expect(text(item)).toBe('Secrets not available in this kernel');
  });
});
