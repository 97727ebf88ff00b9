import { PromiseDelegate } from '@lumino/coreutils';

import { RefreshPoll } from '../poll';

/**
 * Make the document look hidden or visible, and say so as a browser does.
 */
function setVisibility(state: 'hidden' | 'visible') {
  Object.defineProperty(document, 'visibilityState', {
    configurable: true,
    get: () => state
  });
  document.dispatchEvent(new Event('visibilitychange'));
}

describe('RefreshPoll', () => {
  beforeEach(() => {
    jest.useFakeTimers();
    setVisibility('visible');
  });

  afterEach(() => {
    jest.useRealTimers();
    setVisibility('visible');
  });

  it('refreshes once per interval while started, and not after stop', async () => {
    const refresh = jest.fn(() => Promise.resolve());
    const poll = new RefreshPoll(refresh, 3000);

    poll.start();
    expect(refresh).not.toHaveBeenCalled();
    await jest.advanceTimersByTimeAsync(3000);
    expect(refresh).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(6000);
    expect(refresh).toHaveBeenCalledTimes(3);

    poll.stop();
    await jest.advanceTimersByTimeAsync(30000);
    expect(refresh).toHaveBeenCalledTimes(3);
    poll.dispose();
  });

  it('never overlaps a slow refresh', async () => {
    const answers: PromiseDelegate<void>[] = [];
    const refresh = jest.fn(() => {
      const answer = new PromiseDelegate<void>();
      answers.push(answer);
      return answer.promise;
    });
    const poll = new RefreshPoll(refresh, 1000);
    poll.start();

    await jest.advanceTimersByTimeAsync(10000);
    expect(refresh).toHaveBeenCalledTimes(1);

    // The next one is planned once the first settles, even if it failed.
    answers[0].reject(new Error('offline'));
    await jest.advanceTimersByTimeAsync(999);
    expect(refresh).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(refresh).toHaveBeenCalledTimes(2);
    poll.dispose();
  });

  it('rests while the tab is hidden and refreshes when it shows', async () => {
    const refresh = jest.fn(() => Promise.resolve());
    const poll = new RefreshPoll(refresh, 1000);
    poll.start();

    setVisibility('hidden');
    await jest.advanceTimersByTimeAsync(10000);
    expect(refresh).not.toHaveBeenCalled();

    setVisibility('visible');
    await jest.advanceTimersByTimeAsync(0);
    expect(refresh).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(1000);
    expect(refresh).toHaveBeenCalledTimes(2);
    poll.dispose();
  });

  it('is off at an interval of 0, and follows a new interval', async () => {
    const refresh = jest.fn(() => Promise.resolve());
    const poll = new RefreshPoll(refresh, 0);
    poll.start();

    await jest.advanceTimersByTimeAsync(60000);
    expect(refresh).not.toHaveBeenCalled();

    poll.interval = 500;
    await jest.advanceTimersByTimeAsync(500);
    expect(refresh).toHaveBeenCalledTimes(1);
    poll.dispose();
    expect(poll.isStarted).toBe(false);
    expect(poll.isDisposed).toBe(true);
  });
});
