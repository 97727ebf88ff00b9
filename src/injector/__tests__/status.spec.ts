import { PromiseDelegate } from '@lumino/coreutils';
import { Poll } from '@lumino/polling';

import { IKernelSecrets } from '../../api';
import { SecretsStatus } from '../status';
import { KernelSecretsTracker } from '../tracker';
import {
  FakeKernel,
  FakeSessionContext,
  kernelSecrets,
  kernelServer,
  settle
} from './fakes';

/**
 * A tracker over the mocked REST layer, polling only when a test asks.
 */
function trackerFor(
  server: ReturnType<typeof kernelServer>,
  options: Partial<KernelSecretsTracker.IOptions> = {}
) {
  return new KernelSecretsTracker({
    fetch: id => server.client.kernelSecrets(id),
    reload: id => server.client.reloadKernel(id),
    interval: 0,
    ...options
  });
}

/**
 * A status item following a session context with `kernel`.
 */
function itemFor(
  server: ReturnType<typeof kernelServer>,
  kernel: FakeKernel | null
) {
  const tracker = trackerFor(server);
  const context = new FakeSessionContext(kernel);
  const item = new SecretsStatus({ tracker, sessionContext: context as any });
  return { tracker, context, item };
}

const text = (item: SecretsStatus) =>
  item.node.querySelector('.jp-SecretsStatus-text')!.textContent;

describe('SecretsStatus', () => {
  it('is a status named "Kernel secrets"', () => {
    const server = kernelServer();
    const { item, tracker } = itemFor(server, new FakeKernel('k1'));

    expect(item.node.getAttribute('role')).toBe('status');
    expect(item.node.getAttribute('aria-label')).toBe('Kernel secrets');
    item.dispose();
    tracker.dispose();
  });

  it('is hidden without a kernel', () => {
    const { item, tracker } = itemFor(kernelServer(), null);

    expect(item.isHidden).toBe(true);
    item.dispose();
    tracker.dispose();
  });

  it('says "loading" until the server answered', async () => {
    // Given a server that has not answered yet
    const gate = new PromiseDelegate<IKernelSecrets>();
    const tracker = new KernelSecretsTracker({
      fetch: () => gate.promise,
      reload: () => gate.promise,
      interval: 0
    });
    const context = new FakeSessionContext(new FakeKernel('k1'));

    // When the item is made
    const item = new SecretsStatus({ tracker, sessionContext: context as any });

    // Then it says loading
    expect(text(item)).toBe('Loading secrets…');
    expect(item.hasClass('jp-mod-pending')).toBe(true);

    // And once the answer is in, the count
    gate.resolve(kernelSecrets('k1', { names: ['A_KEY'] }));
    await settle();
    expect(text(item)).toBe('1 secret');
    expect(item.hasClass('jp-mod-pending')).toBe(false);
    item.dispose();
    tracker.dispose();
  });

  it('counts the secrets, and lists their names only', async () => {
    const server = kernelServer();
    server.answer('k1', kernelSecrets('k1', { names: ['B_KEY', 'A_KEY'] }));

    const { item, tracker } = itemFor(server, new FakeKernel('k1'));
    await settle();

    expect(text(item)).toBe('2 secrets');
    expect(item.node.title).toBe(
      '2 secrets loaded in this kernel: A_KEY, B_KEY'
    );
    expect(server.requests.map(r => `${r.method} ${r.path}`)).toEqual([
      'GET kernels/k1'
    ]);
    item.dispose();
    tracker.dispose();
  });

  it('says when the kernel has no secrets', async () => {
    const server = kernelServer();
    server.answer('k1', kernelSecrets('k1'));

    const { item, tracker } = itemFor(server, new FakeKernel('k1'));
    await settle();

    expect(text(item)).toBe('0 secrets');
    expect(item.node.title).toBe('No secrets loaded in this kernel.');
    item.dispose();
    tracker.dispose();
  });

  it('names the secrets it skipped, with the reasons', async () => {
    const server = kernelServer();
    server.answer(
      'k1',
      kernelSecrets('k1', {
        language: 'bash',
        names: ['A_KEY'],
        skipped: [
          { name: 'my-key', reason: 'not a valid variable name in bash' },
          { name: 'HTTP_PROXY', reason: 'shared from another project' }
        ]
      })
    );

    const { item, tracker } = itemFor(server, new FakeKernel('k1'));
    await settle();

    expect(text(item)).toBe('1 secret');
    expect(item.node.title).toBe(
      '1 secret loaded in this kernel: A_KEY\n' +
        'Not set in this kernel:\n' +
        '• my-key: not a valid variable name in bash\n' +
        '• HTTP_PROXY: shared from another project'
    );
    item.dispose();
    tracker.dispose();
  });

  it('says secrets are not available in a kernel of another language', async () => {
    const server = kernelServer();
    server.answer(
      'k1',
      kernelSecrets('k1', { language: 'javascript', state: 'unsupported' })
    );

    const { item, tracker } = itemFor(server, new FakeKernel('k1'));
    await settle();

    expect(text(item)).toBe('Secrets not available in this kernel');
    expect(item.hasClass('jp-mod-unsupported')).toBe(true);
    expect(item.node.title).toContain('javascript');
    item.dispose();
    tracker.dispose();
  });

  it('shows the error of a kernel that could not set them', async () => {
    const server = kernelServer();
    server.answer(
      'k1',
      kernelSecrets('k1', { state: 'error', message: 'the kernel died' })
    );

    const { item, tracker } = itemFor(server, new FakeKernel('k1'));
    await settle();

    expect(text(item)).toBe('Secrets not loaded');
    expect(item.hasClass('jp-mod-error')).toBe(true);
    expect(item.node.title).toContain('the kernel died');
    expect(item.node.title).toContain('Reload secrets into kernel');
    item.dispose();
    tracker.dispose();
  });

  it('says the secrets are unavailable when the server cannot tell', async () => {
    const server = kernelServer();
    server.answer('k1', {
      status: 503,
      body: { message: 'The master key is missing.' }
    });

    const { item, tracker } = itemFor(server, new FakeKernel('k1'));
    await settle();

    expect(text(item)).toBe('Secrets unavailable');
    expect(item.hasClass('jp-mod-error')).toBe(true);
    expect(item.node.title).toContain('The master key is missing.');
    item.dispose();
    tracker.dispose();
  });

  it('follows the session to a new kernel', async () => {
    const server = kernelServer();
    server.answer('k1', kernelSecrets('k1', { names: ['A_KEY'] }));
    server.answer(
      'k2',
      kernelSecrets('k2', { language: 'javascript', state: 'unsupported' })
    );
    const { item, context, tracker } = itemFor(server, new FakeKernel('k1'));
    await settle();
    expect(text(item)).toBe('1 secret');

    context.setKernel(new FakeKernel('k2'));
    expect(text(item)).toBe('Loading secrets…');
    await settle();

    expect(text(item)).toBe('Secrets not available in this kernel');
    // The old kernel is no longer followed
    expect(tracker.kernelIds).toEqual(['k2']);
    item.dispose();
    tracker.dispose();
  });

  it('keeps the status of a kernel it connects to again', async () => {
    const server = kernelServer();
    server.answer('k1', kernelSecrets('k1', { names: ['A_KEY'] }));
    const { item, context, tracker } = itemFor(server, new FakeKernel('k1'));
    await settle();

    // A new connection to the same kernel
    context.setKernel(new FakeKernel('k1'));

    expect(text(item)).toBe('1 secret');
    await settle();
    expect(server.count('k1')).toBe(1);
    item.dispose();
    tracker.dispose();
  });

  it('never shows a value, whatever the server sends', async () => {
    const server = kernelServer();
    server.answer('k1', {
      status: 200,
      body: {
        ...kernelSecrets('k1', { names: ['A_KEY'] }),
        value: 'value-do-not-show'
      }
    });

    const { item, tracker } = itemFor(server, new FakeKernel('k1'));
    await settle();

    expect(text(item)).toBe('1 secret');
    expect(item.node.outerHTML).not.toContain('do-not-show');
    item.dispose();
    tracker.dispose();
  });
});

describe('KernelSecretsTracker', () => {
  it('keeps the newest answer when answers arrive out of order', async () => {
    // Given two requests whose answers come back in the reverse order
    const gates: PromiseDelegate<IKernelSecrets>[] = [];
    const tracker = new KernelSecretsTracker({
      fetch: () => {
        const gate = new PromiseDelegate<IKernelSecrets>();
        gates.push(gate);
        return gate.promise;
      },
      reload: () => Promise.reject(new Error('unused')),
      interval: 0
    });
    const watching = tracker.watch('k1');
    void tracker.refresh('k1');
    expect(gates).toHaveLength(2);

    gates[1].resolve(kernelSecrets('k1', { names: ['NEW_KEY'] }));
    await settle();
    gates[0].resolve(kernelSecrets('k1', { names: ['OLD_KEY'] }));
    await settle();

    // Then the answer to the newer request stays
    expect(tracker.statusOf('k1')!.names).toEqual(['NEW_KEY']);
    watching.dispose();
    tracker.dispose();
  });

  it('asks again while the server is still setting the secrets', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate'] });
    try {
      const server = kernelServer();
      server.answer('k1', kernelSecrets('k1', { state: 'pending' }));
      const tracker = trackerFor(server);
      const watching = tracker.watch('k1');
      await jest.advanceTimersByTimeAsync(0);
      expect(tracker.statusOf('k1')!.state).toBe('pending');
      expect(server.count('k1')).toBe(1);

      server.answer('k1', kernelSecrets('k1', { names: ['A_KEY'] }));
      await jest.advanceTimersByTimeAsync(1000);

      // It asked once more, and stopped asking once they were set
      expect(tracker.statusOf('k1')!.state).toBe('loaded');
      expect(server.count('k1')).toBe(2);
      watching.dispose();
      tracker.dispose();
    } finally {
      jest.useRealTimers();
    }
  });

  it('says "loading" through a restart, and asks once the kernel is idle', async () => {
    const server = kernelServer();
    server.answer('k1', kernelSecrets('k1', { names: ['A_KEY'] }));
    const tracker = trackerFor(server);
    const kernel = new FakeKernel('k1');
    const following = tracker.follow(new FakeSessionContext(kernel) as any);
    await settle();
    expect(server.count('k1')).toBe(1);

    // When the kernel restarts
    kernel.setStatus('restarting');
    expect(tracker.statusOf('k1')!.state).toBe('loading');
    server.answer('k1', kernelSecrets('k1', { names: ['A_KEY', 'B_KEY'] }));
    kernel.setStatus('starting');
    await settle();
    expect(server.count('k1')).toBe(1);

    // Then it asks once the new kernel is idle
    kernel.setStatus('idle');
    await settle();
    expect(server.count('k1')).toBe(2);
    expect(tracker.statusOf('k1')!.names).toEqual(['A_KEY', 'B_KEY']);
    following.dispose();
    tracker.dispose();
  });

  it('asks again after a reconnect', async () => {
    const server = kernelServer();
    server.answer('k1', kernelSecrets('k1'));
    const tracker = trackerFor(server);
    const kernel = new FakeKernel('k1');
    const following = tracker.follow(new FakeSessionContext(kernel) as any);
    await settle();

    kernel.setConnection('connecting');
    kernel.setConnection('connected');
    await settle();

    expect(server.count('k1')).toBe(2);
    following.dispose();
    tracker.dispose();
  });

  it('asks about every followed kernel when the secrets change, and once more later', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate'] });
    try {
      const server = kernelServer();
      server.answer('k1', kernelSecrets('k1'));
      server.answer('k2', kernelSecrets('k2'));
      const tracker = trackerFor(server);
      const one = tracker.watch('k1');
      const two = tracker.watch('k2');
      await jest.advanceTimersByTimeAsync(0);
      expect([server.count('k1'), server.count('k2')]).toEqual([1, 1]);

      tracker.secretsChanged();
      await jest.advanceTimersByTimeAsync(0);
      expect([server.count('k1'), server.count('k2')]).toEqual([2, 2]);

      await jest.advanceTimersByTimeAsync(1000);
      expect([server.count('k1'), server.count('k2')]).toEqual([3, 3]);
      one.dispose();
      two.dispose();
      tracker.dispose();
    } finally {
      jest.useRealTimers();
    }
  });

  it('reloads through the server, and shows the answer', async () => {
    const server = kernelServer();
    server.answer('k1', kernelSecrets('k1', { names: ['A_KEY'] }));
    const tracker = trackerFor(server);
    const watching = tracker.watch('k1');
    await settle();

    const answer = await tracker.reload('k1');

    expect(answer.names).toEqual(['A_KEY']);
    expect(server.count('k1', 'POST')).toBe(1);
    expect(server.requests[server.requests.length - 1]).toMatchObject({
      method: 'POST',
      path: 'kernels/k1/reload'
    });
    expect(tracker.statusOf('k1')!.state).toBe('loaded');
    watching.dispose();
    tracker.dispose();
  });

  it('follows a kernel while anyone watches it', () => {
    const server = kernelServer();
    const tracker = trackerFor(server);

    const one = tracker.watch('k1');
    const two = tracker.watch('k1');
    one.dispose();
    expect(tracker.kernelIds).toEqual(['k1']);
    two.dispose();

    expect(tracker.kernelIds).toEqual([]);
    expect(tracker.statusOf(null)).toBeNull();
    tracker.dispose();
  });

  it('polls at the interval set, and never for 0', () => {
    const tracker = trackerFor(kernelServer(), { interval: 10000 });
    expect(tracker.poll.frequency.interval).toBe(10000);

    tracker.interval = 0;
    expect(tracker.poll.frequency.interval).toBe(Poll.NEVER);
    expect(tracker.interval).toBe(0);

    tracker.interval = 2500;
    expect(tracker.interval).toBe(2500);
    tracker.dispose();
  });

  it('stands by with no kernel, and when the tab is idle', () => {
    const tracker = trackerFor(kernelServer(), { idleAfter: 1000 });
    const standby = tracker.poll.standby as () => boolean | string;
    const now = Date.now();
    const clock = jest.spyOn(Date, 'now').mockReturnValue(now);
    try {
      // No kernel followed: nothing to ask
      expect(standby()).toBe(true);

      // A kernel, a tab in use: stand by only when hidden
      const watching = tracker.watch('k1');
      expect(standby()).toBe('when-hidden');

      // No key press nor click for longer than the idle time
      clock.mockReturnValue(now + 1001);
      expect(standby()).toBe(true);

      // A key press wakes it
      document.dispatchEvent(new KeyboardEvent('keydown'));
      expect(standby()).toBe('when-hidden');
      watching.dispose();
    } finally {
      clock.mockRestore();
      tracker.dispose();
    }
  });
});
