import * as fs from 'fs';
import * as path from 'path';

import { SecretsModel } from '../../model';
import { DEFAULT_REFRESH_INTERVAL } from '../../tokens';
import { SecretsPanelModel } from '../panelmodel';
import { meta, mockServer } from '../../__tests__/fakes';

/**
 * Fake timers that leave the microtask machinery alone.
 */
const FAKE_TIMERS: Parameters<typeof jest.useFakeTimers>[0] = {
  doNotFake: ['nextTick', 'setImmediate']
};

/**
 * A panel model over the real secrets model, whose REST layer lists one
 * secret and counts the lists.
 */
async function panelModel(
  confirmDiscard?: () => Promise<boolean>,
  options: Partial<SecretsPanelModel.IOptions> = {}
) {
  let lists = 0;
  const { client } = mockServer(() => {
    lists++;
    return {
      status: 200,
      body: { project: 'default', secrets: [meta('api-key')] }
    };
  });
  const secrets = new SecretsModel(client);
  await secrets.ready;
  const model = new SecretsPanelModel({
    secrets,
    refreshInterval: 0,
    confirmDiscard,
    ...options
  });
  return { model, lists: () => lists };
}

describe('SecretsPanelModel', () => {
  it('opens a form, then gives the focus back where it came from', async () => {
    const { model } = await panelModel();
    let changes = 0;
    model.stateChanged.connect(() => changes++);

    expect(
      await model.openForm({ mode: 'edit', secret: meta('api-key') })
    ).toBe(true);
    expect(model.form?.mode).toBe('edit');
    const key = model.formKey;

    model.closeForm();
    expect(model.form).toBeNull();
    expect(model.takeFocusRequest()).toEqual({ id: 'id-api-key' });
    expect(model.takeFocusRequest()).toBeNull();

    await model.openForm({ mode: 'create' });
    expect(model.formKey).not.toBe(key);
    model.closeForm('id-new');
    expect(model.highlight).toBe('id-new');
    expect(model.takeFocusRequest()).toEqual({ id: 'id-new' });

    await model.openForm({ mode: 'create' });
    model.closeForm();
    expect(model.takeFocusRequest()).toBe('create');
    expect(changes).toBe(6);
    model.dispose();
  });

  it('replaces a form with unsent changes only once the user agrees', async () => {
    let answer = false;
    const asked: number[] = [];
    const { model } = await panelModel(async () => {
      asked.push(1);
      return answer;
    });
    await model.openForm({ mode: 'create' });

    // An unchanged form is replaced without asking
    expect(await model.openForm({ mode: 'create' })).toBe(true);
    expect(asked).toEqual([]);

    model.setFormDirty(true);
    const key = model.formKey;
    expect(
      await model.openForm({ mode: 'edit', secret: meta('api-key') })
    ).toBe(false);
    expect(model.formKey).toBe(key);
    expect(model.form?.mode).toBe('create');

    answer = true;
    expect(
      await model.openForm({ mode: 'edit', secret: meta('api-key') })
    ).toBe(true);
    expect(model.form?.mode).toBe('edit');
    expect(asked).toEqual([1, 1]);
    model.dispose();
  });

  it('tells of a new filter once, and fetches the list when started', async () => {
    const { model, lists } = await panelModel();
    let changes = 0;
    model.stateChanged.connect(() => changes++);

    model.filter = 'key';
    model.filter = 'key';
    expect(changes).toBe(1);

    jest.useFakeTimers(FAKE_TIMERS);
    try {
      const before = lists();
      model.start();
      await jest.advanceTimersByTimeAsync(0);
      expect(lists()).toBeGreaterThan(before);
    } finally {
      model.stop();
      model.dispose();
      jest.useRealTimers();
    }
  });

  it('polls as often as the settings say, by default', async () => {
    const schema = JSON.parse(
      fs.readFileSync(
        path.join(__dirname, '..', '..', '..', 'schema', 'panel.json'),
        'utf-8'
      )
    );
    expect(schema.properties.refreshInterval.default * 1000).toBe(
      DEFAULT_REFRESH_INTERVAL
    );
    const { model } = await panelModel();
    model.refreshInterval = 5000;
    expect(model.refreshInterval).toBe(5000);
    model.refreshInterval = 0;
    expect(model.refreshInterval).toBe(0);
    model.dispose();
  });

  it('fetches nothing while the page is idle, and fetches at once on the next input', async () => {
    const { model, lists } = await panelModel(undefined, {
      refreshInterval: 20,
      idleAfter: 1000
    });
    // The fake timers' clock starts now, and Date.now() moves as they advance.
    jest.useFakeTimers(FAKE_TIMERS);
    try {
      model.start();
      await jest.advanceTimersByTimeAsync(100);
      // In use: the list is fetched again and again
      const inUse = lists();
      await jest.advanceTimersByTimeAsync(100);
      expect(lists()).toBeGreaterThan(inUse);

      // No input for longer than the idle time: nothing more is fetched
      await jest.advanceTimersByTimeAsync(1000);
      const idle = lists();
      await jest.advanceTimersByTimeAsync(200);
      expect(lists()).toBe(idle);

      // A pointer move wakes it, and the list is fetched at once (well within
      // the 20 ms of a poll)
      document.dispatchEvent(new Event('pointermove'));
      await jest.advanceTimersByTimeAsync(1);
      expect(lists()).toBeGreaterThan(idle);
    } finally {
      model.dispose();
      jest.useRealTimers();
    }
  });
});
