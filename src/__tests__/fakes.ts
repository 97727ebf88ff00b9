import { ISecretMeta } from '../api';

/**
 * The metadata of a project secret owned by alice, as the server lists it;
 * `extra` overrides any field.
 */
export function meta(
  name: string,
  extra: Partial<ISecretMeta> = {}
): ISecretMeta {
  return {
    id: `id-${name}`,
    name,
    project: 'default',
    created_by: 'alice',
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
    version: 1,
    shared_with: [],
    origin: 'project',
    attached: false,
    editable: true,
    ...extra
  };
}
