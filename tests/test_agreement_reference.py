"""Agreement coefficients against published values (sources cited per test).

Every value below comes from a publication or an independent implementation;
none is copied from opsloop's own output.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from opsloop.metrics import agreement, pairwise_agreement
from tests.conftest import Backend

REF = "reference_small"


def long_from_wide(
    path: Path, *, raters: tuple[str, ...] | None = None, transpose: bool = False
) -> pa.Table:
    """Wide CSV (rows = units, columns = raters; or transposed) → long table."""
    with path.open() as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    cells: list[tuple[str, str, str]] = []
    for row in body:
        for col, value in zip(header[1:], row[1:], strict=True):
            if value == "":
                continue
            unit, rater = (col, row[0]) if transpose else (row[0], col)
            if raters is None or rater in raters:
                cells.append((unit, rater, format(float(value), "g")))
    return pa.table(
        {
            "item_id": [c[0] for c in cells],
            "rater_id": [c[1] for c in cells],
            "label": [c[2] for c in cells],
        }
    )


def long_from_counts(path: Path) -> pa.Table:
    """Item × category count CSV → long table with synthetic rater slots."""
    with path.open() as fh:
        rows = list(csv.reader(fh))
    cats, items, raters, labels = rows[0][1:], [], [], []
    for row in rows[1:]:
        slot = 0
        for cat, n in zip(cats, row[1:], strict=True):
            for _ in range(int(n)):
                items.append(row[0])
                raters.append(f"slot{slot}")
                labels.append(cat)
                slot += 1
    return pa.table({"item_id": items, "rater_id": raters, "label": labels})


def long_from_contingency(table: list[list[int]], cats: list[str]) -> pa.Table:
    """Two-rater contingency table (rows rater A, columns rater B) → long table."""
    items, raters, labels = [], [], []
    n = 0
    for i, row in enumerate(table):
        for j, count in enumerate(row):
            for _ in range(count):
                items += [f"u{n}", f"u{n}"]
                raters += ["A", "B"]
                labels += [cats[i], cats[j]]
                n += 1
    return pa.table({"item_id": items, "rater_id": raters, "label": labels})


def value(table: pa.Table, metric: str, **kw: object) -> float:
    return agreement(table, metrics=[metric], n_boot=0, **kw).records[0].value  # type: ignore[arg-type]


def test_fleiss_1971_diagnoses(data_dir: Path, backend: Backend) -> None:
    # Fleiss (1971) Psychol. Bull. 76(5); R irr::kappam.fleiss(diagnoses) = 0.4302445
    t = long_from_wide(data_dir / REF / "fleiss1971_diagnoses_30x6.csv")
    t = backend(t)
    assert value(t, "fleiss_kappa") == pytest.approx(0.4302445, abs=1e-6)


def test_wikipedia_fleiss(data_dir: Path, backend: Backend) -> None:
    # Wikipedia "Fleiss' kappa" worked example: κ = 0.210 (also statsmodels' test)
    t = long_from_counts(data_dir / REF / "wikipedia_fleiss_example_10x14_counts.csv")
    t = backend(t)
    assert value(t, "fleiss_kappa") == pytest.approx(0.210, abs=5e-4)


def test_category_kappa_fleiss_1971(data_dir: Path, backend: Backend) -> None:
    # R irr::kappam.fleiss(diagnoses, detail=TRUE): per-category κ
    # Depression .245, Personality disorder .245, Schizophrenia .520, Neurosis .471, Other .566
    t = long_from_wide(data_dir / REF / "fleiss1971_diagnoses_30x6.csv")
    t = backend(t)
    res = agreement(t, metrics=["category_kappa"], n_boot=50)
    got = [res.get("category_kappa", label=str(k)).value for k in range(1, 6)]
    assert got == pytest.approx([0.245, 0.245, 0.520, 0.471, 0.566], abs=5e-4)


def test_irr_anxiety_cohen_kappa(data_dir: Path, backend: Backend) -> None:
    # R irr::kappa2(anxiety[, 2:3]) unweighted / "equal" / "squared", quoted in statsmodels
    t = long_from_wide(data_dir / REF / "irr_anxiety_20x3.csv", raters=("rater2", "rater3"))
    t = backend(t)
    assert value(t, "cohen_kappa") == pytest.approx(-0.006289308, abs=1e-6)
    assert value(t, "cohen_kappa", weights="linear") == pytest.approx(0.1459075, abs=1e-6)
    assert value(t, "cohen_kappa", weights="quadratic") == pytest.approx(0.2520325, abs=1e-6)


def test_krippendorff_2011(data_dir: Path, backend: Backend) -> None:
    # Krippendorff (2011) "Computing Krippendorff's Alpha-Reliability", p. 8 (3 decimals)
    t = long_from_wide(
        data_dir / REF / "krippendorff2011_example_4obs_x_12units.csv", transpose=True
    )
    t = backend(t)
    assert value(t, "krippendorff_alpha") == pytest.approx(0.743, abs=5e-4)
    assert value(t, "krippendorff_alpha", level="ordinal") == pytest.approx(0.815, abs=5e-4)
    assert value(t, "krippendorff_alpha", level="ratio") == pytest.approx(0.797, abs=5e-4)


def test_krippendorff_pkg_docstring(data_dir: Path, backend: Backend) -> None:
    # krippendorff 0.9.0 docstring example: nominal 0.691358, interval 0.810845
    t = long_from_wide(
        data_dir / REF / "krippendorff_pkg_docstring_example_3coders_x_15units.csv",
        transpose=True,
    )
    t = backend(t)
    assert value(t, "krippendorff_alpha") == pytest.approx(0.691358, abs=1e-6)
    assert value(t, "krippendorff_alpha", level="interval") == pytest.approx(0.810845, abs=1e-6)


def test_irrcac_raw_4raters_gwet_fleiss_pa(data_dir: Path, backend: Backend) -> None:
    # irrcac 0.4.4 raw.py doctest (port of Gwet's R irrCAC; data Gwet 2014 Handbook):
    # AC1 0.77544 (se 0.14295, CI 0.46081–1), Fleiss 0.76117 (se 0.15302), Pa 0.81818
    t = long_from_wide(data_dir / REF / "irrCAC_raw_4raters.csv")
    t = backend(t)
    res = agreement(t, metrics=["gwet_ac1", "fleiss_kappa", "percent_agreement"], n_boot=0)
    ac1, fk, pa_ = res.records
    assert ac1.value == pytest.approx(0.77544, abs=1e-5)
    assert ac1.se == pytest.approx(0.14295, abs=1e-5)
    assert (ac1.ci_low, ac1.ci_high) == pytest.approx((0.46081, 1.0), abs=1e-5)
    assert fk.value == pytest.approx(0.76117, abs=1e-5)
    assert fk.se == pytest.approx(0.15302, abs=1e-5)
    assert pa_.value == pytest.approx(0.81818, abs=1e-5)
    assert ac1.n_items == 11 and ac1.n_raters == 4  # unit 12 has one rating
    assert "single rating" in (ac1.note or "")


def test_irrcac_conger_and_bp(data_dir: Path, backend: Backend) -> None:
    # irrCAC Python port's unit tests (test/unit/irrCAC/raw/test_conger.py, test_bp.py),
    # 3 decimals: Conger 0.763 (Pe 0.233, CI lower 0.435); BP 0.773 (se 0.145, CI 0.454)
    t = long_from_wide(data_dir / REF / "irrCAC_raw_4raters.csv")
    t = backend(t)
    res = agreement(t, metrics=["conger_kappa", "brennan_prediger"], n_boot=0)
    cg, bp = res.records
    assert cg.value == pytest.approx(0.763, abs=5e-4)
    assert cg.extra["pe"] == pytest.approx(0.233, abs=5e-4)
    assert cg.ci_low == pytest.approx(0.435, abs=5e-4)
    assert bp.value == pytest.approx(0.773, abs=5e-4)
    assert bp.se == pytest.approx(0.145, abs=5e-4)
    assert bp.ci_low == pytest.approx(0.454, abs=5e-4)


def test_irrcac_table_3x3(data_dir: Path, backend: Backend) -> None:
    # irrcac 0.4.4 table.py doctest: cont3x3abstractors AC1 0.84933, AC2 (quadratic) 0.94024
    with (data_dir / REF / "irrCAC_table_cont3x3abstractors.csv").open() as fh:
        rows = list(csv.reader(fh))
    cats = rows[0][1:]
    counts = [[int(x) for x in r[1:]] for r in rows[1:]]
    t = long_from_contingency(counts, cats)
    t = backend(t)
    assert value(t, "gwet_ac1", categories=cats) == pytest.approx(0.84933, abs=1e-5)
    ac2 = value(t, "gwet_ac2", categories=cats, weights="quadratic")
    assert ac2 == pytest.approx(0.94024, abs=1e-5)


def test_kappa_paradox_table(backend: Backend) -> None:
    # Kappa paradox 2×2 table a=130, b=56, c=9, d=5 (PMC7222679):
    # Po .675, Pe .668, κ .022, Gwet AC1 .533
    t = long_from_contingency([[130, 56], [9, 5]], ["yes", "no"])
    t = backend(t)
    res = agreement(t, metrics=["percent_agreement", "cohen_kappa", "gwet_ac1"], n_boot=0)
    po, kappa, ac1 = res.records
    assert po.value == pytest.approx(0.675, abs=5e-4)
    assert kappa.extra["pe"] == pytest.approx(0.668, abs=5e-4)
    assert kappa.value == pytest.approx(0.022, abs=5e-4)
    assert ac1.value == pytest.approx(0.533, abs=5e-4)
    assert kappa.note is not None and "kappa paradox" in kappa.note and "gwet_ac1" in kappa.note
    assert kappa.interpretation == "slight"


def test_scott_pi_two_raters(backend: Backend) -> None:
    # Scott (1955): π = (Po − Pe)/(1 − Pe), Pe = Σ ((p_A,k + p_B,k)/2)².
    # Paradox table by hand: Po = 135/200 = .675; pooled yes = (186 + 139)/400 = .8125,
    # Pe = .8125² + .1875² = .69531; π = (.675 − .69531)/(1 − .69531) = −0.066667
    t = long_from_contingency([[130, 56], [9, 5]], ["yes", "no"])
    t = backend(t)
    assert value(t, "scott_pi") == pytest.approx(-0.0666667, abs=1e-6)


def test_specific_agreement_2x2(backend: Backend) -> None:
    # Positive/negative specific agreement 2a/(2a+b+c), 2d/(2d+b+c) (Cicchetti & Feinstein
    # 1990) on the paradox table by hand: yes 260/325 = 0.8, no 10/75 = 0.133333
    t = long_from_contingency([[130, 56], [9, 5]], ["yes", "no"])
    t = backend(t)
    res = agreement(t, metrics=["specific_agreement"], n_boot=20)
    assert res.get("specific_agreement", label="yes").value == pytest.approx(0.8, abs=1e-9)
    assert res.get("specific_agreement", label="no").value == pytest.approx(10 / 75, abs=1e-9)


def test_rater_agreement_hand_computed() -> None:
    # Hand-computed: item a: x=1 y=1 z=0; item b: x=0 y=0 z=0; item c: x=1 y=0.
    # x peers: a 1/2, b 2/2, c 0/1 → 3/5; consensus (others' majority): a y,z tie → skip,
    # b 0 → agree, c y=0 → disagree → 1/2.
    t = pa.table(
        {"item_id": list("aaabbbcc"), "rater_id": list("xyzxyzxy"), "label": list("11000010")}
    )
    res = agreement(t, metrics=["rater_peer_agreement", "rater_consensus_agreement"])
    assert res.get("rater_peer_agreement", rater_id="x").value == pytest.approx(3 / 5)
    assert res.get("rater_consensus_agreement", rater_id="x").value == pytest.approx(1 / 2)
    # z: peers a 0/2, b 2/2 → 2/4; consensus a x,y=1 → disagree, b → agree → 1/2
    assert res.get("rater_peer_agreement", rater_id="z").value == pytest.approx(2 / 4)
    assert res.get("rater_consensus_agreement", rater_id="z").value == pytest.approx(1 / 2)
    pw = pairwise_agreement(t)
    x, y = pw.raters.index("x"), pw.raters.index("y")
    assert pw.agreement[x, y] == pytest.approx(2 / 3) and pw.n_shared[x, y] == 3


def load_lewidi(folder: Path, name: str) -> pa.Table:
    items, raters, labels = [], [], []
    for split in ("train", "dev", "test"):
        data = json.loads((folder / f"{name}_{split}.json").read_text())
        for key, rec in data.items():
            for ann, lab in zip(
                rec["annotators"].split(","), rec["annotations"].split(","), strict=True
            ):
                items.append(f"{split}:{key}")
                raters.append(ann.strip())
                labels.append(lab.strip())
    return pa.table({"item_id": items, "rater_id": raters, "label": labels})


# HS-Brexit ships in tests/data; the larger sets (≈ 7 MB) stay in ../shared/data (realdata)
@pytest.mark.parametrize(
    ("name", "alpha"),
    [
        ("HS-Brexit", 0.3475),
        pytest.param("ArMIS", 0.524, marks=pytest.mark.realdata),
        pytest.param("MD-Agreement", 0.359, marks=pytest.mark.realdata),
    ],
)
def test_lewidi_alpha(public_data: Path, name: str, alpha: float) -> None:
    # data/README: α nominal by an independent implementation (all splits)
    t = load_lewidi(public_data / "lewidi2023", name)
    assert value(t, "krippendorff_alpha") == pytest.approx(alpha, abs=5e-4)


def test_lewidi_cross_check_peers(data_dir: Path) -> None:
    # statsmodels fleiss_kappa on the item × category table, krippendorff on value counts
    krippendorff = pytest.importorskip("krippendorff")
    inter_rater = pytest.importorskip("statsmodels.stats.inter_rater")
    t = load_lewidi(data_dir / "lewidi2023", "HS-Brexit")
    items = np.unique(t["item_id"].to_numpy(zero_copy_only=False), return_inverse=True)[1]
    labs = np.array(t["label"].to_pylist(), dtype=int)
    table = np.zeros((items.max() + 1, labs.max() + 1))
    np.add.at(table, (items, labs), 1)
    assert value(t, "fleiss_kappa") == pytest.approx(inter_rater.fleiss_kappa(table), abs=1e-9)
    ref = krippendorff.alpha(value_counts=table, level_of_measurement="nominal")
    assert value(t, "krippendorff_alpha") == pytest.approx(ref, abs=1e-9)
    # Cohen's κ of two HS-Brexit raters against statsmodels
    two = t.filter(pa.compute.is_in(t["rater_id"], pa.array(["Ann1", "Ann2"])))
    d = {
        (i, r): lab
        for i, r, lab in zip(*(two[c].to_pylist() for c in two.column_names), strict=True)
    }
    keys = sorted({i for i, _ in d})
    ct = np.zeros((2, 2))
    for k in keys:
        ct[int(d[(k, "Ann1")]), int(d[(k, "Ann2")])] += 1
    sm = inter_rater.cohens_kappa(ct, return_results=False)
    assert value(two, "cohen_kappa") == pytest.approx(sm, abs=1e-9)
