"""Who a request's user is, as the audit log, a secret's History and the community rules name
them.

jupyter_server's own identity providers (`IdentityProvider`, and `PasswordIdentityProvider`,
its default: token or password login) know no user names. They make every client an anonymous
user (`IdentityProvider.generate_anonymous_user`) whose name is a random UUID, a new one for
each browser and each script. Recorded as it is, one person's edits would show as the work of
many strangers. So a user these providers give is named after the account that runs the
server (`getpass.getuser()`), as ``jupyter secrets`` names whoever runs it.

Any other provider (JupyterHub's, an operator's own) names its users, and their names are
kept; only a user such a provider makes with jupyter_server's anonymous generator (by calling
the base class) is named after the account too: `UserNames` wraps that generator on the
server's provider and remembers the names it made. That is how a user is known to be
anonymous: by where it came from, never by the look of its name.
"""

from __future__ import annotations

import getpass
import threading
from collections import OrderedDict
from typing import Any

from jupyter_server.auth.identity import IdentityProvider, PasswordIdentityProvider, User

__all__ = ["ANONYMOUS_ONLY", "UserNames"]

ANONYMOUS_ONLY = (IdentityProvider, PasswordIdentityProvider)
"""jupyter_server's providers whose every user is anonymous (exactly these classes: a
subclass may name its users)."""

_REMEMBERED = 10_000
"""How many names of anonymous users a provider of another class made are remembered: each
request without a cookie makes one, so the oldest are forgotten."""


class UserNames:
    """The name a request's user is recorded under, on one server."""

    def __init__(self, provider: IdentityProvider, account: str | None = None) -> None:
        self.account = account if account is not None else getpass.getuser()
        """The name of the account that runs the server: that of every anonymous user."""
        self.every_user_anonymous = type(provider) in ANONYMOUS_ONLY
        self._made: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        if not self.every_user_anonymous:
            generate = provider.generate_anonymous_user

            def generate_and_remember(handler: Any) -> User:
                user = generate(handler)
                with self._lock:
                    self._made[user.username] = None
                    while len(self._made) > _REMEMBERED:
                        self._made.popitem(last=False)
                return user

            provider.generate_anonymous_user = generate_and_remember  # type: ignore[method-assign]

    def is_anonymous(self, user: User) -> bool:
        """Whether jupyter_server's anonymous generator made ``user``."""
        if self.every_user_anonymous:
            return True
        with self._lock:
            return user.username in self._made

    def name(self, user: User) -> str:
        """The account's name for an anonymous user, else the user's own."""
        return self.account if self.is_anonymous(user) else user.username
