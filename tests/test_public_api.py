"""The public API lives in package ``__all__`` lists; implementation modules are private."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys

import pytest

import opsloop

SUBPACKAGES = tuple(
    info.name for info in pkgutil.iter_modules(opsloop.__path__) if info.ispkg
)  # every package: a new one is covered without editing this list
# top-level modules that DESIGN.md names as the foundation of the public API
PUBLIC_TOP_LEVEL = {"config", "engine", "errors", "schema", "views"}
# libraries that make start-up slow: `import opsloop` must not load them
HEAVY = ("ibis", "duckdb", "pandas", "scipy", "pyarrow", "numpy", "plotly", "sqlglot")


def _fresh_python(code: str) -> str:
    """Run ``code`` in a new interpreter (nothing imported yet) and return its stdout."""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"python -c failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


def test_top_level_all_resolves() -> None:
    for name in opsloop.__all__:
        assert hasattr(opsloop, name), name


# where each public name is defined (the eager re-exports this package used to make)
HOMES = {
    "opsloop._verbs": ("agreement", "infer", "quality"),
    "opsloop.config": ("Config", "load_config"),
    "opsloop.engine": ("Workspace",),
    "opsloop.errors": ("ConfigError", "InputError", "OpsloopError", "Problem", "WorkspaceError"),
    "opsloop.io": ("ingest", "read_table"),
    "opsloop.report": ("run_demo",),
    "opsloop.schema": ("CONTRACTS", "TableContract"),
    "opsloop.session": ("Session",),
}


def test_top_level_all_resolves_in_a_fresh_process() -> None:
    """Each name resolves lazily to its defining package's object, and dir() lists it."""
    code = (
        "import importlib, json, opsloop\n"
        f"homes = {HOMES!r}\n"
        "out = {'__version__': isinstance(opsloop.__version__, str)}\n"
        "for home, names in homes.items():\n"
        "    for name in names:\n"
        "        value = getattr(opsloop, name)\n"
        "        same = value is getattr(importlib.import_module(home), name)\n"
        "        out[name] = same and name in dir(opsloop)\n"
        "for v in ('monitor', 'rca', 'report'):\n"
        "    got = getattr(opsloop, v)\n"
        "    out[v] = callable(got) and got is importlib.import_module('opsloop.' + v)\n"
        "print(json.dumps(out))\n"
    )
    found = json.loads(_fresh_python(code))
    assert set(found) == set(opsloop.__all__)
    assert [name for name, ok in found.items() if not ok] == []


def test_import_opsloop_loads_no_heavy_library() -> None:
    loaded = json.loads(
        _fresh_python("import json, sys, opsloop; print(json.dumps(sorted(sys.modules)))")
    )
    heavy = sorted({m for m in loaded if m.split(".")[0] in HEAVY})
    assert heavy == [], f"import opsloop loads {heavy[:10]}"
    analyses = sorted(m for m in loaded if m.startswith("opsloop.") and m != "opsloop._lazy")
    assert analyses == [], f"import opsloop loads {analyses}"


@pytest.mark.parametrize("first", ["verb", "package", "submodule"])
@pytest.mark.parametrize("verb", ["monitor", "rca", "report"])
def test_verb_packages_are_the_package_and_the_verb(verb: str, first: str) -> None:
    """``opsloop.<verb>`` is the subpackage, callable as the verb, whatever is imported first."""
    imports = {
        "verb": f"from opsloop import {verb} as got\n",
        "package": f"import opsloop.{verb} as got\n",
        "submodule": f"import opsloop.{verb}._{'run' if verb == 'report' else verb} as _m\n"
        f"from opsloop import {verb} as got\n",
    }
    code = (
        imports[first] + "import sys, opsloop\nfrom unittest import mock\n"
        f"package = sys.modules['opsloop.{verb}']\n"
        f"with mock.patch('opsloop._verbs.{verb}', return_value='ran') as verb:\n"
        "    result = got('ws', kpi='x')\n"
        f"print(got is package, opsloop.{verb} is package, result,\n"
        "      verb.call_args == mock.call('ws', kpi='x'), bool(package.__all__))\n"
    )
    assert _fresh_python(code).split() == ["True", "True", "ran", "True", "True"]


def test_top_level_all_is_short() -> None:
    """Curated: the verbs, the workspace, configuration, errors and contracts."""
    assert len(opsloop.__all__) <= 25
    assert {"quality", "agreement", "monitor", "rca", "infer", "report"} <= set(opsloop.__all__)


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = opsloop.no_such_name  # type: ignore[attr-defined]


@pytest.mark.parametrize("sub", SUBPACKAGES)
def test_subpackage_all_resolves_and_modules_are_private(sub: str) -> None:
    package = importlib.import_module(f"opsloop.{sub}")
    exported = getattr(package, "__all__", None)
    assert exported, f"opsloop.{sub} has no __all__"
    for name in exported:
        assert hasattr(package, name), f"opsloop.{sub}.{name} is in __all__ but missing"
    for info in pkgutil.iter_modules(package.__path__):
        assert info.name.startswith("_"), (
            f"opsloop.{sub}.{info.name} should be private (_{info.name})"
        )


def test_top_level_modules_are_known() -> None:
    for info in pkgutil.iter_modules(opsloop.__path__):
        if not info.ispkg:
            assert info.name in PUBLIC_TOP_LEVEL or info.name.startswith("_"), info.name
