"""The files a papermill command writes, read from its arguments with papermill's own parser.

``jupyter secrets run --redact -- papermill IN OUT [OPTIONS]`` scrubs them once papermill
ends: the output notebook (its path formatted with the parameters, as papermill formats it)
and the files of ``--stdout-file`` and ``--stderr-file``, which receive the notebook's
output too.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError

REMOTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
"""A path papermill hands to an I/O handler (``s3://``, ``gs://``, ``https://`` …)."""


class CannotScrubError(InvalidInputError):
    """What papermill would write cannot be found or scrubbed; the command is not run."""


def papermill_arguments(command: Sequence[str]) -> list[str] | None:
    """The arguments of papermill when ``command`` runs it (``papermill …`` or
    ``python -m papermill …``), else None."""
    if not command:
        return None
    if Path(command[0]).name == "papermill":
        return list(command[1:])
    if Path(command[0]).name.startswith("python"):
        for index, argument in enumerate(command[1:], start=1):
            if argument == "-m":
                following = command[index + 1 : index + 2]
                return list(command[index + 2 :]) if following == ["papermill"] else None
            if not argument.startswith("-") or argument == "-c":
                return None
    return None


def papermill_outputs(arguments: Sequence[str]) -> list[str]:
    """The local files papermill writes when run with ``arguments``.

    Raises `CannotScrubError` when papermill is not importable here, or writes the notebook
    where it cannot be scrubbed (standard output, a remote store). The message never quotes
    an argument: one may be a value (``-p token …``).
    """
    try:
        import click
        from papermill import cli
        from papermill.parameterize import parameterize_path
    except ImportError:
        raise CannotScrubError(
            "--redact reads papermill's arguments with papermill's own parser, and papermill "
            "is not installed beside jupyterlab_secrets: install it there, or name the files "
            "to scrub with --redact-file."
        ) from None
    # Resilient: no callback runs (no --help, no --version) and no file is opened.
    context = cli.papermill.make_context("papermill", list(arguments), resilient_parsing=True)
    params = context.params
    if params.get("help_notebook"):
        return []  # it prints the notebook's parameters, and writes nothing
    notebook = params.get("notebook_path") or ""
    output = params.get("output_path") or ""
    if not notebook and not cli.INPUT_PIPED:
        # A resilient parse that fails leaves every argument out.
        raise CannotScrubError(
            "--redact cannot read papermill's arguments: they name no input notebook, or "
            "papermill refuses them (an unknown option, an option without its value)."
        )
    if cli.INPUT_PIPED and notebook and not output:
        output = notebook  # `… | papermill OUT`: the one path is the output
    if output in ("", "-"):
        raise CannotScrubError(
            "papermill writes the notebook to standard output here, which --redact cannot "
            "scrub: give papermill an OUTPUT_PATH."
        )
    if "{" in output:
        try:
            output = parameterize_path(output, _parameters(params, notebook or "-", output))
        except Exception:  # a missing parameter, a bad format, an unreadable -f file
            raise CannotScrubError(
                "--redact cannot format papermill's OUTPUT_PATH with the parameters given: "
                "name the notebook papermill writes with --redact-file."
            ) from None
    outputs = [output]
    for option in ("stdout_file", "stderr_file"):
        stream = params.get(option)
        if stream is None:
            continue
        if not isinstance(stream, click.utils.LazyFile):
            raise CannotScrubError(
                f"papermill writes --{option.replace('_', '-')} to standard output here, "
                "which --redact cannot scrub: give it a file."
            )
        outputs.append(stream.name)
    for path in outputs:
        scheme = REMOTE.match(path)
        if scheme is not None:
            raise CannotScrubError(
                f"--redact scrubs local files only, and papermill writes to "
                f"{scheme.group(0)}…: write the notebook to a local file."
            )
    return outputs


def _parameters(params: dict[str, Any], input_path: str, output_path: str) -> dict[str, Any]:
    """The parameters papermill formats OUTPUT_PATH with, merged in papermill's order:
    injected paths, ``-b``, ``-f``, ``-y``, ``-p``, ``-r`` (later ones win). ``-p`` values
    stay strings (papermill reads numbers and booleans in them): an OUTPUT_PATH that
    formats them as numbers is refused."""
    import yaml
    from papermill.iorw import NoDatesSafeLoader, read_yaml_file

    merged: dict[str, Any] = {}
    if params.get("inject_input_path") or params.get("inject_paths"):
        merged["PAPERMILL_INPUT_PATH"] = input_path
    if params.get("inject_output_path") or params.get("inject_paths"):
        merged["PAPERMILL_OUTPUT_PATH"] = output_path
    for encoded in params.get("parameters_base64") or ():
        merged.update(yaml.load(base64.b64decode(encoded), Loader=NoDatesSafeLoader) or {})
    for path in params.get("parameters_file") or ():
        merged.update(read_yaml_file(path) or {})
    for text in params.get("parameters_yaml") or ():
        merged.update(yaml.load(text, Loader=NoDatesSafeLoader) or {})
    for pairs in (params.get("parameters"), params.get("parameters_raw")):
        merged.update(dict(pairs or ()))
    return merged
