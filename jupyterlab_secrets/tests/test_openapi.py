"""The OpenAPI description the package ships: DESIGN.md's REST table, every served route, and
in the wheel."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import schemathesis
import yaml

import jupyterlab_secrets

ROOT = Path(__file__).resolve().parents[2]
SPEC = Path(jupyterlab_secrets.__file__).parent / "openapi.yaml"

DESIGN_TABLE = {
    ("get", "/secrets"),
    ("post", "/secrets"),
    ("get", "/secrets/{id}"),
    ("patch", "/secrets/{id}"),
    ("delete", "/secrets/{id}"),
    ("post", "/secrets/{id}/reveal"),
    ("post", "/secrets/{id}/copy"),
    ("put", "/secrets/{id}/access"),
    ("put", "/secrets/{id}/attachment"),
    ("delete", "/secrets/{id}/attachment"),
    ("get", "/communities"),
    ("get", "/environment"),
    ("get", "/audit"),
    ("get", "/secrets/{id}/versions"),
    ("post", "/secrets/{id}/versions/{version}/restore"),
}
"""DESIGN.md's REST table, row by row."""

KERNEL_ROUTES = {
    ("get", "/kernels/{kernel_id}"),
    ("post", "/kernels/{kernel_id}/reload"),
}
"""The kernel status routes, as the README's "How kernels get their secrets" gives them."""

METHODS = ("get", "post", "put", "patch", "delete")


def _spec() -> dict:
    return yaml.safe_load(SPEC.read_text())


def test_the_description_is_valid_openapi_3() -> None:
    # Given the shipped description
    spec = _spec()
    # Then it is OpenAPI 3, and schemathesis can generate requests for every operation
    assert spec["openapi"].startswith("3.")
    operations = [
        result.ok() for result in schemathesis.openapi.from_path(SPEC).get_all_operations()
    ]
    assert len(operations) == len(DESIGN_TABLE | KERNEL_ROUTES)


def test_it_describes_exactly_the_rest_table() -> None:
    # Given the shipped description
    spec = _spec()
    # Then its operations are those of DESIGN.md's table and the kernel routes, each with an
    # answer and an error
    described = {
        (method, path)
        for path, item in spec["paths"].items()
        for method in item
        if method in METHODS
    }
    assert described == DESIGN_TABLE | KERNEL_ROUTES
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                responses = item[method]["responses"]
                assert any(code.startswith("2") or code == "304" for code in responses), path
                assert "default" in responses, (method, path)
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["message"]
    assert set(error["properties"]) == {"message", "field"}


def _routes(router: Any) -> Iterator[tuple[str, Any]]:
    """Every (path pattern, handler class) of a tornado router, nested routers included."""
    for rule in getattr(router, "rules", []):
        if hasattr(rule.target, "rules"):
            yield from _routes(rule.target)
        elif isinstance(rule.target, type):
            yield rule.matcher.regex.pattern, rule.target


async def test_every_served_route_is_described(jp_serverapp: Any) -> None:
    # Given the secrets routes of a running server, and the described paths with a sample id
    spec = _spec()
    samples = {
        path: path.replace("{id}", "0" * 32).replace("{version}", "1").replace("{kernel_id}", "k")
        for path in spec["paths"]
    }
    served = [
        (pattern.split("jupyterlab-secrets/api", 1)[1], handler)
        for pattern, handler in _routes(jp_serverapp.web_app.default_router)
        if "jupyterlab-secrets/api" in pattern
    ]
    assert len(served) >= 8
    for pattern, handler in served:
        route = re.compile(pattern)
        # Then each matches a described path, with every method the handler serves
        matching = [path for path, sample in samples.items() if route.match(sample)]
        assert matching, pattern
        for method in (method for method in METHODS if method in vars(handler)):
            assert any(method in spec["paths"][path] for path in matching), (method, pattern)


def test_the_wheel_ships_it() -> None:
    # Given hatchling, the build backend, choosing the wheel's files as a build does
    from hatchling.builders.wheel import WheelBuilder

    files = {entry.distribution_path for entry in WheelBuilder(str(ROOT)).recurse_included_files()}
    # Then the description is in the package, next to the code
    assert "jupyterlab_secrets/openapi.yaml" in files
    assert "jupyterlab_secrets/app.py" in files
