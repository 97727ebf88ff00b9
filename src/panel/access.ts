/**
 * The logic of the Access view, kept apart from React so that it can be
 * tested on its own: which switches it shows, how each reads, and what a
 * turn of one sends.
 */

import { TranslationBundle } from '@jupyterlab/translation';

import { ICommunity, ISecretMeta } from '../api';

/**
 * One switch of the Access view.
 */
export interface IAccessSwitch {
  /**
   * The community, which also names the switch.
   */
  name: string;
  /**
   * Whether the switch shows on: the change being sent, else the truth.
   */
  checked: boolean;
  /**
   * Whether the user may turn it: only an admin of the community may.
   */
  enabled: boolean;
  /**
   * Whether a change of it is being sent.
   */
  pending: boolean;
  /**
   * What the switch's state means for the community's projects, or why
   * the user cannot turn it.
   */
  description: string;
}

/**
 * The switches of the Access view, one per community of the project, in
 * the order the server lists them.
 *
 * @param communities - the communities of the project
 * @param secret - the secret as last listed: the truth
 * @param pending - the changes being sent, by community
 * @param trans - the extension's translation bundle
 */
export function accessSwitches(
  communities: ReadonlyArray<ICommunity>,
  secret: ISecretMeta,
  pending: ReadonlyMap<string, boolean>,
  trans: TranslationBundle
): IAccessSwitch[] {
  return communities.map(community => {
    const name = community.name;
    const shared = secret.shared_with.includes(name);
    const others = community.projects.filter(p => p !== secret.project);
    let description: string;
    if (!community.is_admin) {
      description = shared
        ? trans.__(
            'Shared with %1. Only an admin of %1 can stop sharing with it.',
            name
          )
        : trans.__('Only an admin of %1 can share with it.', name);
    } else if (others.length === 0) {
      description = trans.__(
        '%1 has no other project to share with yet.',
        name
      );
    } else {
      const projects = others.join(trans.__(', '));
      description = shared
        ? trans._n(
            'Project %2 can use it.',
            'Projects %2 can use it.',
            others.length,
            projects
          )
        : trans._n(
            'Not shared. Turn it on to let project %2 use it.',
            'Not shared. Turn it on to let projects %2 use it.',
            others.length,
            projects
          );
    }
    return {
      name,
      checked: pending.get(name) ?? shared,
      enabled: community.is_admin,
      pending: pending.has(name),
      description
    };
  });
}

/**
 * The communities to send when a switch is turned: those the secret is
 * shared with, with the changes being sent and this one applied.
 *
 * Only communities of the project are sent. A secret can only be shared
 * with those, and the server leaves shares it no longer knows alone.
 *
 * @param secret - the secret as last listed
 * @param communities - the communities of the project
 * @param changes - the changes to apply, by community, in order
 */
export function sharesAfter(
  secret: ISecretMeta,
  communities: ReadonlyArray<ICommunity>,
  changes: Iterable<[string, boolean]>
): string[] {
  const known = new Set(communities.map(c => c.name));
  const shares = new Set(secret.shared_with.filter(name => known.has(name)));
  for (const [name, on] of changes) {
    if (on) {
      shares.add(name);
    } else {
      shares.delete(name);
    }
  }
  return [...shares].sort();
}

/**
 * What the Access view says above its switches.
 *
 * @param communities - the communities of the project
 * @param secret - the secret as last listed
 * @param project - the current project
 * @param trans - the extension's translation bundle
 */
export function accessSummary(
  communities: ReadonlyArray<ICommunity>,
  secret: ISecretMeta,
  project: string,
  trans: TranslationBundle
): string {
  if (communities.length === 0) {
    return trans.__(
      'This secret is not shared with any community: project %1 belongs to none. Communities are configured by an admin of this Jupyter server.',
      project
    );
  }
  const admin = communities.some(c => c.is_admin);
  return admin
    ? trans.__(
        'Turn a community on to list this secret in its other projects. There it is read-only: they can add it to their kernels or copy it.'
      )
    : trans.__(
        'A secret shared with a community is listed, read-only, in its other projects. You are not an admin of any community of project %1, so you cannot change this.',
        project
      );
}

/**
 * Why a secret shared with the project cannot be changed here, and what
 * can be done instead.
 */
export function readOnlyReason(
  secret: ISecretMeta,
  trans: TranslationBundle
): string {
  return trans.__(
    'Shared by project %1: read-only here. Clone it to edit a copy.',
    secret.project
  );
}
