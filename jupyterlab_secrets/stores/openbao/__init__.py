"""The store on OpenBao (or HashiCorp Vault) KV v2, where OpenBao's policies decide.

``store.py`` holds `OpenBaoSecretStore`; ``layout.py`` the paths of the mount; ``policies.py``
the policies that grant rights on them; ``index.py`` the index documents; ``shares.py`` the
shared copies and share epochs; ``kv.py`` every request to OpenBao; ``migration.py`` the copy
of a SQL store into OpenBao. Importing this package needs ``hvac`` (the ``openbao`` extra).
"""

from .index import INDEX_FORMAT, pack_index, unpack_index
from .layout import SEGMENT, check_id, check_segment
from .policies import (
    HUB_POLICY_NAME,
    POLICY_PREFIX,
    TOKEN_ROLE,
    admin_policy,
    admin_policy_name,
    configured_policies,
    hub_policy,
    member_policy,
    member_policy_name,
    project_policy,
    project_policy_name,
    server_policies,
)
from .store import OpenBaoSecretStore

__all__ = [
    "HUB_POLICY_NAME",
    "INDEX_FORMAT",
    "POLICY_PREFIX",
    "TOKEN_ROLE",
    "SEGMENT",
    "OpenBaoSecretStore",
    "admin_policy",
    "admin_policy_name",
    "check_id",
    "check_segment",
    "configured_policies",
    "hub_policy",
    "member_policy",
    "member_policy_name",
    "pack_index",
    "project_policy",
    "project_policy_name",
    "server_policies",
    "unpack_index",
]
