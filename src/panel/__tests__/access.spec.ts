import { nullTranslator } from '@jupyterlab/translation';

import { ICommunity, ISecretMeta } from '../../api';
import { meta as secretMeta } from '../../__tests__/fakes';
import {
  accessSummary,
  accessSwitches,
  readOnlyReason,
  sharesAfter
} from '../access';

const trans = nullTranslator.load('jupyterlab_secrets');

/**
 * The secret these tests look at: `team-key` of `proj-a`.
 */
function meta(extra: Partial<ISecretMeta> = {}): ISecretMeta {
  return secretMeta('team-key', { id: 'id-key', project: 'proj-a', ...extra });
}

const mlTeam: ICommunity = {
  name: 'ml-team',
  is_admin: true,
  projects: ['proj-a', 'proj-b']
};
const dataTeam: ICommunity = {
  name: 'data-team',
  is_admin: false,
  projects: ['proj-a', 'proj-c', 'proj-d']
};

describe('accessSwitches', () => {
  it('gives one switch per community, on where the secret is shared', () => {
    const switches = accessSwitches(
      [mlTeam, dataTeam],
      meta({ shared_with: ['data-team'] }),
      new Map(),
      trans
    );

    expect(switches.map(s => [s.name, s.checked])).toEqual([
      ['ml-team', false],
      ['data-team', true]
    ]);
    expect(switches.every(s => !s.pending)).toBe(true);
  });

  it('lets only an admin turn a switch, and tells anyone else why', () => {
    const [admin, other] = accessSwitches(
      [mlTeam, dataTeam],
      meta(),
      new Map(),
      trans
    );

    expect(admin.enabled).toBe(true);
    expect(admin.description).toBe(
      'Not shared. Turn it on to let project proj-b use it.'
    );
    expect(other.enabled).toBe(false);
    expect(other.description).toBe(
      'Only an admin of data-team can share with it.'
    );
  });

  it('names the projects that can use a shared secret', () => {
    const [admin, other] = accessSwitches(
      [mlTeam, { ...dataTeam, is_admin: true }],
      meta({ shared_with: ['ml-team', 'data-team'] }),
      new Map(),
      trans
    );

    expect(admin.description).toBe('Project proj-b can use it.');
    expect(other.description).toBe('Projects proj-c, proj-d can use it.');
  });

  it('tells a non-admin who can stop sharing', () => {
    const [other] = accessSwitches(
      [dataTeam],
      meta({ shared_with: ['data-team'] }),
      new Map(),
      trans
    );

    expect(other.checked).toBe(true);
    expect(other.enabled).toBe(false);
    expect(other.description).toBe(
      'Shared with data-team. Only an admin of data-team can stop sharing with it.'
    );
  });

  it('says when a community has no other project', () => {
    const [alone] = accessSwitches(
      [{ name: 'solo', is_admin: true, projects: ['proj-a'] }],
      meta(),
      new Map(),
      trans
    );

    expect(alone.description).toBe(
      'solo has no other project to share with yet.'
    );
  });

  it('shows a change being sent until it is answered', () => {
    const [admin] = accessSwitches(
      [mlTeam],
      meta(),
      new Map([['ml-team', true]]),
      trans
    );

    expect(admin.checked).toBe(true);
    expect(admin.pending).toBe(true);
  });
});

describe('sharesAfter', () => {
  it('adds and removes communities, sorted', () => {
    const secret = meta({ shared_with: ['ml-team'] });
    const communities = [mlTeam, dataTeam];

    expect(sharesAfter(secret, communities, [['data-team', true]])).toEqual([
      'data-team',
      'ml-team'
    ]);
    expect(sharesAfter(secret, communities, [['ml-team', false]])).toEqual([]);
  });

  it('applies the changes in order, the last one winning', () => {
    expect(
      sharesAfter(
        meta(),
        [mlTeam],
        [
          ['ml-team', true],
          ['ml-team', false]
        ]
      )
    ).toEqual([]);
  });

  it('sends only communities of the project', () => {
    // A share with a community no longer configured is not sent back.
    const secret = meta({ shared_with: ['gone-team', 'ml-team'] });

    expect(sharesAfter(secret, [mlTeam], [])).toEqual(['ml-team']);
  });
});

describe('accessSummary', () => {
  it('explains a project without communities', () => {
    const text = accessSummary([], meta(), 'proj-a', trans);

    expect(text).toContain('not shared with any community');
    expect(text).toContain('project proj-a belongs to none');
    expect(text).toContain('configured by an admin');
  });

  it('tells an admin what sharing does', () => {
    expect(accessSummary([mlTeam], meta(), 'proj-a', trans)).toContain(
      'Turn a community on'
    );
  });

  it('tells someone who administers none that they cannot change it', () => {
    expect(accessSummary([dataTeam], meta(), 'proj-a', trans)).toContain(
      'You are not an admin of any community of project proj-a'
    );
  });
});

describe('readOnlyReason', () => {
  it('names the owning project and the way out', () => {
    expect(
      readOnlyReason(meta({ origin: 'shared', editable: false }), trans)
    ).toBe(
      'Shared by project proj-a: read-only here. Clone it to edit a copy.'
    );
  });
});
