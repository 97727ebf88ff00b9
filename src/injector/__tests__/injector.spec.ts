import { Signal } from '@lumino/signaling';

import { asKernel, FakeKernel, setup } from './fakes';

describe('KernelInjector', () => {
  it('queues the injection before track returns', async () => {
    const { injector } = await setup();
    const kernel = new FakeKernel();

    injector.track(asKernel(kernel));

    expect(kernel.requests).toHaveLength(1);
    expect(kernel.requests[0].content).toMatchObject({
      silent: true,
      store_history: false,
      allow_stdin: false,
      stop_on_error: false
    });
    expect(injector.stateOf(asKernel(kernel))?.status).toBe('pending');
  });

  it('queues the injection inside the kernelChanged emission', async () => {
    const { injector } = await setup();
    const source = { kernelChanged: new Signal<any, any>({}) };
    injector.watch(source);
    const kernel = new FakeKernel();
    let seenByLaterListener = -1;
    source.kernelChanged.connect(() => {
      seenByLaterListener = kernel.requests.length;
    });

    source.kernelChanged.emit({
      name: 'kernel',
      oldValue: null,
      newValue: kernel
    });

    expect(seenByLaterListener).toBe(1);
  });

  it('is loaded once the kernel confirms, with names only', async () => {
    const { injector } = await setup({ B_KEY: 'b', A_KEY: 'a' });
    const kernel = new FakeKernel();
    injector.track(asKernel(kernel));

    await kernel.answer('ok');

    expect(injector.stateOf(asKernel(kernel))).toEqual({
      status: 'loaded',
      reason: undefined,
      language: 'python',
      names: ['A_KEY', 'B_KEY'],
      skipped: []
    });
  });

  it.each([
    ['the reply is an error', 'error'],
    ['the code reports a failure', 'failed']
  ] as const)('is in error when %s', async (_, outcome) => {
    const { injector } = await setup();
    const kernel = new FakeKernel();
    injector.track(asKernel(kernel));

    await kernel.answer(outcome);

    expect(injector.stateOf(asKernel(kernel))).toMatchObject({
      status: 'error',
      reason: 'kernel',
      names: []
    });
  });

  it('trusts an ok reply from a kernel without user expressions', async () => {
    const { injector } = await setup();
    const kernel = new FakeKernel('bash', 'bash');
    injector.track(asKernel(kernel));

    await kernel.answer('no-expressions');

    expect(injector.stateOf(asKernel(kernel))?.status).toBe('loaded');
  });

  it('sends again, once, what a failing user cell made the kernel abort', async () => {
    const { injector } = await setup();
    const kernel = new FakeKernel();
    injector.track(asKernel(kernel));

    await kernel.answer('aborted');
    expect(kernel.requests).toHaveLength(2);
    await kernel.answer('aborted');

    expect(kernel.requests).toHaveLength(2);
    expect(injector.stateOf(asKernel(kernel))?.status).toBe('error');
  });

  it('keeps the newest injection: a late answer to an older one is ignored', async () => {
    const { injector } = await setup();
    const kernel = new FakeKernel();
    injector.track(asKernel(kernel));
    const first = kernel.requests[0];
    void injector.inject(asKernel(kernel));

    await kernel.answer('ok');
    first.reply.resolve({ content: { status: 'error' } });
    await new Promise(resolve => setTimeout(resolve, 0));

    expect(injector.stateOf(asKernel(kernel))?.status).toBe('loaded');
  });

  it('after a restart, queues once, after the connection dropped the old kernel', async () => {
    const { injector } = await setup();
    const kernel = new FakeKernel();
    injector.track(asKernel(kernel));
    await kernel.answer('ok');

    kernel.setStatus('restarting');
    kernel.setStatus('autorestarting');
    // The connection clears its queue synchronously after the signal.
    expect(kernel.requests).toHaveLength(1);
    kernel.setConnection('connecting');
    await Promise.resolve();

    expect(kernel.requests).toHaveLength(2);
    expect(injector.stateOf(asKernel(kernel))?.status).toBe('pending');
    kernel.setConnection('connected');
    await Promise.resolve();
    expect(kernel.requests).toHaveLength(2);
  });

  it('queues at once when the connection starts reconnecting', async () => {
    const { injector } = await setup();
    const kernel = new FakeKernel();
    injector.track(asKernel(kernel));

    kernel.setConnection('connecting');

    expect(kernel.requests).toHaveLength(2);
  });

  it('sends nothing to a kernel in another language, and says so', async () => {
    const { injector } = await setup();
    const kernel = new FakeKernel('node', 'javascript');

    injector.track(asKernel(kernel));
    await new Promise(resolve => setTimeout(resolve, 0));

    expect(kernel.requests).toHaveLength(0);
    expect(injector.stateOf(asKernel(kernel))).toMatchObject({
      status: 'unsupported',
      language: 'javascript'
    });
  });

  it('asks the kernel its language when no kernelspec tells', async () => {
    const { injector } = await setup();
    const kernel = new FakeKernel('unknown-spec', 'python');

    injector.track(asKernel(kernel));
    expect(kernel.requests).toHaveLength(0);
    await new Promise(resolve => setTimeout(resolve, 0));

    expect(kernel.requests).toHaveLength(1);
  });

  it('follows the kernel when its kernelspec names another language', async () => {
    const { injector } = await setup();
    const kernel = new FakeKernel('node', 'python');

    injector.track(asKernel(kernel));
    await new Promise(resolve => setTimeout(resolve, 0));

    expect(kernel.requests).toHaveLength(1);
    expect(injector.stateOf(asKernel(kernel))?.language).toBe('python');
  });

  it('sends nothing before the environment is known, then sends it', async () => {
    const { cache, injector, setAnswer } = await setup(null);
    const kernel = new FakeKernel();

    injector.track(asKernel(kernel));
    expect(kernel.requests).toHaveLength(0);
    expect(injector.stateOf(asKernel(kernel))).toMatchObject({
      status: 'error',
      reason: 'fetch'
    });

    setAnswer({ A_KEY: 'a' });
    await cache.refresh();
    expect(kernel.requests).toHaveLength(1);
  });

  it('pushes a changed environment to every kernel, and only a changed one', async () => {
    const { cache, injector, setAnswer } = await setup();
    const kernels = [new FakeKernel(), new FakeKernel('bash', 'bash')];
    kernels.forEach(kernel => injector.track(asKernel(kernel)));

    await cache.refresh();
    expect(kernels.map(k => k.requests.length)).toEqual([1, 1]);
    setAnswer({ A_KEY: 'changed' });
    await cache.refresh();

    expect(kernels.map(k => k.requests.length)).toEqual([2, 2]);
  });

  it('forgets a disposed kernel', async () => {
    const { injector } = await setup();
    const kernel = new FakeKernel();
    injector.track(asKernel(kernel));

    kernel.isDisposed = true;
    kernel.disposed.emit();

    expect(injector.kernels).toEqual([]);
    expect(injector.stateOf(asKernel(kernel))).toBeNull();
  });

  it('never puts a value in a state or a signal', async () => {
    const { injector } = await setup({ A_KEY: 'do-not-leak-this' });
    const kernel = new FakeKernel();
    const seen: string[] = [];
    injector.stateChanged.connect((_, change) => {
      seen.push(JSON.stringify(change.state));
    });
    injector.track(asKernel(kernel));

    await kernel.answer('ok');

    expect(seen.join('')).not.toContain('do-not-leak-this');
  });
});
