"""The public API lives in package ``__all__`` lists; implementation modules are private."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys

import pytest

import opsloop

SUBPACKAGES = ("io", "stats", "metrics", "inference", "demo", "report", "cli")
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
    "opsloop.config": ("Config", "load_config"),
    "opsloop.engine": ("Workspace",),
    "opsloop.errors": ("ConfigError", "InputError", "OpsloopError", "Problem", "WorkspaceError"),
    "opsloop.inference": ("infer_labels", "rank_label_errors"),
    "opsloop.io": ("ingest", "read_table"),
    "opsloop.metrics": ("agreement", "quality"),
    "opsloop.monitor": ("MonitorResult", "monitor_workspace"),
    "opsloop.rca": ("rca", "rca_inputs"),
    "opsloop.report": ("run_demo", "write_report"),
    "opsloop.schema": ("CONTRACTS", "TableContract"),
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
    analyses = sorted(m for m in loaded if m.startswith("opsloop."))
    assert analyses == [], f"import opsloop loads {analyses}"


def test_rca_stays_the_function_when_its_subpackage_is_imported_first() -> None:
    """``opsloop.rca`` is the function ``opsloop.rca.rca``, whichever is imported first."""
    code = (
        "import opsloop.rca as sub_first\n"  # binds what the attribute opsloop.rca holds
        "import sys, opsloop\n"
        "package = sys.modules['opsloop.rca']\n"
        "print(opsloop.rca is package.rca, callable(opsloop.rca), sub_first is package.rca)\n"
    )
    assert _fresh_python(code).split() == ["True", "True", "True"]


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
