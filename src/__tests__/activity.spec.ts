import { IDLE_AFTER, UserActivity } from '../activity';

describe('UserActivity', () => {
  it('counts the page idle after a minute without input, by default', () => {
    const activity = new UserActivity();
    expect(activity.idleAfter).toBe(IDLE_AFTER);
    expect(IDLE_AFTER).toBe(60 * 1000);
    activity.dispose();
  });

  it('is idle after the idle time, and tells once when input resumes', () => {
    const now = Date.now();
    const clock = jest.spyOn(Date, 'now').mockReturnValue(now);
    const activity = new UserActivity({ idleAfter: 1000 });
    let resumed = 0;
    activity.resumed.connect(() => resumed++);
    try {
      expect(activity.isIdle).toBe(false);
      clock.mockReturnValue(now + 1000);
      expect(activity.isIdle).toBe(false);
      clock.mockReturnValue(now + 1001);
      expect(activity.isIdle).toBe(true);

      document.dispatchEvent(new KeyboardEvent('keydown'));
      expect(activity.isIdle).toBe(false);
      expect(resumed).toBe(1);

      // Input while in use is no resumption
      document.dispatchEvent(new Event('pointerdown'));
      expect(resumed).toBe(1);
    } finally {
      clock.mockRestore();
      activity.dispose();
    }
  });

  it('counts the tab shown again as input, and hears nothing once disposed', () => {
    const now = Date.now();
    const clock = jest.spyOn(Date, 'now').mockReturnValue(now);
    const activity = new UserActivity({ idleAfter: 1000 });
    let resumed = 0;
    activity.resumed.connect(() => resumed++);
    try {
      clock.mockReturnValue(now + 5000);
      document.dispatchEvent(new Event('visibilitychange'));
      expect(document.visibilityState).toBe('visible');
      expect(activity.isIdle).toBe(false);
      expect(resumed).toBe(1);

      activity.dispose();
      clock.mockReturnValue(now + 10000);
      document.dispatchEvent(new Event('wheel'));
      expect(activity.isIdle).toBe(true);
      expect(resumed).toBe(1);
    } finally {
      clock.mockRestore();
      activity.dispose();
    }
  });
});
