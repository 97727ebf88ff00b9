"""Secrets for notebooks run outside the server's kernels, and what they write scrubbed.

A job of jupyter-scheduler (`jobs.scheduler`) and a command under ``jupyter secrets run``
(papermill, ``jupyter nbconvert --execute``) start their own kernels, which the server never
sees. They get the project's environment as ``jupyter secrets run`` gives it, and the
notebooks they write are scrubbed with the redaction matcher (`scrub`): every value, in every
form the matcher knows, becomes ``[REDACTED:<name>]``.
"""

from .scrub import scrub_file, scrub_notebook

__all__ = ["scrub_file", "scrub_notebook"]
