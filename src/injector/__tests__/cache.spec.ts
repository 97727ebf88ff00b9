import { PromiseDelegate } from '@lumino/coreutils';

import { EnvironmentCache } from '../cache';

describe('EnvironmentCache', () => {
  it('holds nothing until the first fetch', () => {
    const cache = new EnvironmentCache(async () => ({ A_KEY: 'a' }));

    expect(cache.environment).toBeNull();
    expect(cache.isLoaded).toBe(false);
  });

  it('holds the fetched environment and says when it changed', async () => {
    let answer: Record<string, string> = { A_KEY: 'a' };
    const cache = new EnvironmentCache(async () => answer);
    let changes = 0;
    cache.changed.connect(() => changes++);

    expect(await cache.refresh()).toBe(true);
    expect(cache.environment).toEqual({ A_KEY: 'a' });
    expect(await cache.refresh()).toBe(false);
    answer = { A_KEY: 'b' };
    expect(await cache.refresh()).toBe(true);

    expect(cache.environment).toEqual({ A_KEY: 'b' });
    expect(changes).toBe(2);
  });

  it('keeps the environment when the server says it has not changed', async () => {
    const answers: Array<Record<string, string> | null> = [
      { A_KEY: 'a' },
      null
    ];
    const cache = new EnvironmentCache(async () => answers.shift()!);
    let changes = 0;
    cache.changed.connect(() => changes++);

    expect(await cache.refresh()).toBe(true);
    expect(await cache.refresh()).toBe(false);

    expect(cache.environment).toEqual({ A_KEY: 'a' });
    expect(changes).toBe(1);
  });

  it('an empty environment is a loaded one', async () => {
    const cache = new EnvironmentCache(async () => ({}));
    let changes = 0;
    cache.changed.connect(() => changes++);

    await cache.refresh();

    expect(cache.isLoaded).toBe(true);
    expect(changes).toBe(1);
  });

  it('keeps the last environment when a fetch fails', async () => {
    let fail = false;
    const cache = new EnvironmentCache(async () => {
      if (fail) {
        throw new Error('The Jupyter server could not be reached');
      }
      return { A_KEY: 'a' };
    });
    await cache.refresh();
    fail = true;

    await expect(cache.refresh()).rejects.toThrow('could not be reached');

    expect(cache.environment).toEqual({ A_KEY: 'a' });
    expect(cache.error?.message).toBe(
      'The Jupyter server could not be reached'
    );
  });

  it('never lets an older answer overwrite a newer one', async () => {
    const answers = [
      new PromiseDelegate<Record<string, string>>(),
      new PromiseDelegate<Record<string, string>>()
    ];
    let call = 0;
    const cache = new EnvironmentCache(() => answers[call++].promise);

    const older = cache.refresh();
    const newer = cache.refresh();
    answers[1].resolve({ A_KEY: 'new' });
    await newer;
    answers[0].resolve({ A_KEY: 'old' });
    await older;

    expect(cache.environment).toEqual({ A_KEY: 'new' });
  });

  it('cannot be changed from outside', async () => {
    const cache = new EnvironmentCache(async () => ({ A_KEY: 'a' }));
    await cache.refresh();

    expect(() => {
      (cache.environment as Record<string, string>).A_KEY = 'b';
    }).toThrow();
  });
});
