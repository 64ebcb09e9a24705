"""`opsloop rca` through the real entry point: reports, JSON and one-line errors."""

from __future__ import annotations

import json

import pytest

from . import rca_data
from .helpers import run_cli
from .rca_data import AFTER, BEFORE, make_operation


@pytest.fixture(scope="module")
def op(tmp_path_factory: pytest.TempPathFactory) -> rca_data.Operation:
    return make_operation(tmp_path_factory.mktemp("rca_cli"), seed=2, n=30_000)


def test_table_report(op: rca_data.Operation) -> None:
    out = run_cli("rca", "--kpi", "accuracy", "--from", BEFORE, "--to", AFTER, cwd=op.root).stdout
    assert "Accuracy vs gold" in out and "change" in out
    assert "mix versus rate (Kitagawa)" in out and "workflow" in out
    assert "[mix_shift] Mix shift in workflow" in out
    assert "[rater_cohort]" in out and "agency=Harbor" in out
    assert "no quality action: mix shift in workflow" in out
    assert "Traceback" not in out


def test_json_report(op: rca_data.Operation) -> None:
    proc = run_cli(
        "rca", "--kpi", "accuracy", "--from", BEFORE, "--to", AFTER, "--top", "3",
        "--format", "json", cwd=op.root,
    )  # fmt: skip
    data = json.loads(proc.stdout)
    assert data["kpi"] == "accuracy" and len(data["findings"]) == 3
    assert data["before"]["period"]["label"] == BEFORE
    assert data["after"]["value"] < data["before"]["value"]
    dims = {d["dim"] for d in data["decomposition"]}
    assert {"workflow", "market", "channel", "agency", "tenure"} <= dims
    for d in data["decomposition"]:
        assert d["rate_effect"] + d["mix_effect"] == pytest.approx(d["change"], abs=1e-9)
    scores = [f["score"] for f in data["findings"]]
    assert scores == sorted(scores, reverse=True)


def test_by_and_depth_limit_the_slices(op: rca_data.Operation) -> None:
    proc = run_cli(
        "rca", "--kpi", "accuracy", "--from", BEFORE, "--to", AFTER, "--by", "market,channel",
        "--depth", "1", "--format", "json", cwd=op.root,
    )  # fmt: skip
    data = json.loads(proc.stdout)
    assert {d["dim"] for d in data["decomposition"]} == {"market", "channel"}
    assert all(len(s["where"]) <= 1 for s in data["slices"])
    assert all(set(s["where"]) <= {"market", "channel"} for s in data["slices"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--kpi", "acuracy"), "unknown KPI 'acuracy'"),
        (("--kpi", "krippendorff_alpha"), "cannot explain krippendorff_alpha"),
        (("--kpi", "audit_accuracy"), "audit_accuracy cannot be measured on this data"),
        (("--from", "2023-W01"), "no accuracy data in 2023-W01"),
        (("--to", "2030-01"), "no accuracy data in 2030-01"),
        (("--from", "2024-10..2024-09"), "ends before it starts"),
        (("--from", "2024-13"), "no such month"),
        (("--to", BEFORE), "same period"),
        (("--to", "2024-09-09..2024-10-06"), "overlap"),
        (("--by", "market,nope"), "unknown dimension 'nope'"),
        (("--depth", "0"), "--depth must be 1 to 4"),
        (("--top", "0"), "--top must be at least 1"),
        (("--format", "csv"), "use --format table or json"),
    ],
)
def test_bad_input_is_one_line(op: rca_data.Operation, args: tuple[str, ...], message: str) -> None:
    base = {"--kpi": "accuracy", "--from": BEFORE, "--to": AFTER}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    argv = [x for kv in base.items() for x in kv]
    proc = run_cli("rca", *argv, cwd=op.root, ok=False)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], proc.stderr


def test_missing_option_is_a_usage_error(op: rca_data.Operation) -> None:
    proc = run_cli("rca", "--kpi", "accuracy", "--from", BEFORE, cwd=op.root, ok=False)
    assert proc.returncode == 2 and "--to" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_same_period_spelled_differently(op: rca_data.Operation) -> None:
    proc = run_cli(
        "rca", "--kpi", "accuracy", "--from", "2024-W36..2024-W39", "--to", BEFORE,
        cwd=op.root, ok=False,
    )  # fmt: skip
    assert proc.returncode == 2 and "same period" in proc.stderr
    assert "Traceback" not in proc.stderr
