"""The report page's rater, root-cause and notes sections (HTML from the JSON form)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opsloop.findings import SCORE_UNITS, rank_finding_dicts
from opsloop.report import _charts as charts
from opsloop.report._format import count, e, fmt, kpi_label, missing, unit

SHOWN_RATERS = 30


def pill(status: str) -> str:
    return f'<span class="pill {e(status)}">{e(status)}</span>'


def _accuracy_target(data: Mapping[str, Any], task: str) -> Any:
    mon = data.get("monitor") or {}
    want = {"task": task} if task else {}
    return next((s.get("target") for s in mon.get("statuses", [])
                 if s.get("kpi") == "accuracy" and (s.get("where") or {}) == want), None)  # fmt: skip


def _cpc_missing(c: Mapping[str, Any]) -> str:
    if c.get("unit_cost") is None:
        return "no cost column"
    return "no gold" if c.get("accuracy") is None else "no correct label"


def _card_row(c: Mapping[str, Any], attrs: Sequence[str], tasks: bool) -> str:
    ci = c.get("accuracy_ci") or [None, None]
    interval = "" if c.get("accuracy") is None else f"{fmt(ci[0], 'share')}–{fmt(ci[1], 'share')}"
    return (
        f"<tr><td>{e(c['rater_id'])}</td>"
        + (f"<td>{e(c.get('task', ''))}</td>" if tasks else "")
        + "".join(f"<td>{e(c.get(a, ''))}</td>" for a in attrs)
        + f"<td class=num>{count(c.get('items_handled'))}</td>"
        f"<td class=num>{fmt(c.get('accuracy'), 'share', 'no gold')}</td>"
        f"<td class=num>{interval}</td>"
        f"<td class=num>{fmt(c.get('audit_accuracy'), 'share', 'no audits')}</td>"
        f"<td class=num>{fmt(c.get('avg_handling_time_s'), 'seconds', 'no duration_s')}</td>"
        f"<td class=num>{fmt(c.get('unit_cost'), 'currency', 'no cost column')}</td>"
        f"<td class=num>{fmt(c.get('cost_per_correct_label'), 'currency', _cpc_missing(c))}</td>"
        f"<td>{e(c.get('flag', ''))}</td></tr>"
    )


def raters(data: Mapping[str, Any]) -> str:
    cards = data.get("scorecards", [])
    if not cards:
        return '<section id="raters"><h2>Rater scorecards</h2><p class=note>no raters</p></section>'
    tasks = any("task" in c for c in cards)
    attrs = [c for c in ("vendor", "site") if c in cards[0]]
    head = ("<th>task</th>" if tasks else "") + "".join(f"<th>{a}</th>" for a in attrs)
    body = "".join(_card_row(c, attrs, tasks) for c in cards[:SHOWN_RATERS])
    flagged = sum(1 for c in cards if c.get("flag"))
    n_raters = len({c["rater_id"] for c in cards})
    by_task: dict[str, list[Mapping[str, Any]]] = {}
    for c in cards:
        by_task.setdefault(str(c.get("task", "")), []).append(c)
    plots = "".join(
        charts.scorecard_chart(rows, div_id=f"raters-scatter{'-' + t if t else ''}",
                               target=_accuracy_target(data, t), task=t or None)
        for t, rows in sorted(by_task.items())
    )  # fmt: skip
    span = "last four weeks" if data.get("dated", True) else "whole period"
    per = (
        ", one scorecard per task (quality is the task's; items handled, speed and cost are "
        "over all tasks)"
        if tasks
        else ""
    )
    return (
        f'<section id="raters"><h2>Rater scorecards ({span})</h2>'
        f'<p class="muted">{n_raters:,} raters{e(per)}; {flagged:,} scorecard(s) with accuracy '
        f"wholly below target (95% CI). Worst {SHOWN_RATERS} shown; all in report.json.</p>"
        + plots
        + f"<table><tr><th>rater</th>{head}<th>items handled</th><th>accuracy</th><th>95% CI</th>"
        "<th>audit acc.</th><th>AHT</th><th>unit cost</th><th>cost / correct</th><th>flag</th></tr>"
        + body
        + "</table></section>"
    )


def all_findings(data: Mapping[str, Any], *, data_loop: bool = True) -> list[Mapping[str, Any]]:
    """Every finding of the report (the weekly changes', then the model and preference
    checks'), titled with its week and task, in the one rank order of
    :func:`opsloop.findings.rank_finding_dicts`."""
    out: list[Mapping[str, Any]] = []
    seen: set[str] = set()
    for c in data.get("changes", []):
        analysis = c.get("analysis") or {}
        task = f" · task {c['task']}" if c.get("task") else ""
        for f in analysis.get("findings", []):
            key = f"{f.get('id')}|{c['after']['label']}|{c.get('task')}"
            if key not in seen:
                seen.add(key)
                out.append({**f, "title": f"{c['after']['label']}{task}: {f.get('title')}"})
    if data_loop:
        out += data.get("data_loop", [])
    return rank_finding_dicts(out)


def _short(text: str, limit: int = 60) -> str:
    if len(text) <= limit:
        return text
    parts = text.split("|")
    more = f" … ({len(parts)} values)" if len(parts) > 1 else " …"
    return text[:limit].rsplit("|", 1)[0] + more


def _p(x: Any) -> str:
    """A p- or q-value: ``<0.001`` below a thousandth, else two significant digits."""
    if missing(x):
        return "n/a"
    return "<0.001" if float(x) < 0.001 else f"{float(x):.2g}"


def _rate(p: Mapping[str, Any]) -> str:
    """A proportion's evidence: value, 95% interval and n."""
    return (f"{fmt(p.get('value'), 'share')} [{fmt(p.get('ci_low'), 'share')}–"
            f"{fmt(p.get('ci_high'), 'share')}], n {count(p.get('n'))}")  # fmt: skip


def _slice_evidence(ev: Mapping[str, Any], scale: str) -> list[str]:
    s = ev.get("slice") or {}
    parts = [f"{fmt(s.get('value_before'), scale)} → {fmt(s.get('value_after'), scale)}, "
             f"n {count(s.get('n_before'))} → {count(s.get('n_after'))}, "
             f"q {_p(s.get('q_value'))}"]  # fmt: skip
    pair = ev.get("pair") or next(iter(ev.get("confusions") or []), None)
    if pair:
        a, b = pair.get("labels", ["?", "?"])
        parts.append(f"{a} ↔ {b} {fmt(pair.get('share_before'), 'share')} → "
                     f"{fmt(pair.get('share_after'), 'share')} of judged rows")  # fmt: skip
    v = ev.get("version")
    if v:
        parts.append(f"{v.get('dim')} {v.get('old')} → {v.get('new')}: here "
                     f"{fmt(v.get('slice_old'), scale)} → {fmt(v.get('slice_new'), scale)}, "
                     f"elsewhere {fmt(v.get('rest_old'), scale)} → {fmt(v.get('rest_new'), scale)}")  # fmt: skip
    nr = ev.get("new_raters")
    if nr:
        parts.append(f"{count(nr.get('count'))} new raters {fmt(nr.get('value_new'), scale)} vs "
                     f"tenured {fmt(nr.get('value_tenured'), scale)}")  # fmt: skip
    if ev.get("drifting_raters"):
        parts.append(f"{len(ev['drifting_raters'])} drifting rater(s) in the slice")
    return parts


def evidence_text(f: Mapping[str, Any]) -> str:
    """The figures behind a finding, read from its kind's evidence fields."""
    ev = f.get("evidence") or {}
    kind, scale = f.get("kind"), str(f.get("score_scale") or "share")
    if "slice" in ev:
        parts = _slice_evidence(ev, scale)
    elif kind == "mix_shift":
        top: Mapping[str, Any] = next(iter(ev.get("levels") or []), {})
        parts = [f"mix {fmt(ev.get('mix_effect'), scale)}, rate {fmt(ev.get('rate_effect'), scale)}",
                 f"{top.get('value')} {fmt(top.get('share_before'), 'share')} → "
                 f"{fmt(top.get('share_after'), 'share')} of the work"]  # fmt: skip
        if ev.get("simpson"):
            parts.append("rates improved within every value (Simpson's paradox)")
    elif kind == "rater_drift":
        parts = [f"{len(ev.get('raters') or [])} of {count(ev.get('tested'))} raters tested"]
    elif kind == "model_regression":
        b, c, d = ev.get("baseline") or {}, ev.get("candidate") or {}, ev.get("discordant") or {}
        parts = [f"{ev.get('metric')}: {b.get('model_version')} {_rate(b)} → "
                 f"{c.get('model_version')} {_rate(c)}",
                 f"items worse {count(d.get('candidate_worse'))}, better "
                 f"{count(d.get('candidate_better'))}; {ev.get('test')}, q {_p(ev.get('q_value'))}"]  # fmt: skip
    elif kind == "preference_bias":
        rate = ev.get("first_shown_win_rate") or ev.get("longer_win_rate")
        if rate:
            parts = [f"{f.get('kpi')} {_rate(rate)}; {ev.get('test')}, p {_p(ev.get('p_value'))}"]
        else:
            parts = [f"{count(ev.get('flagged'))} of {count(ev.get('raters_tested'))} raters "
                     f"flagged ({count(ev.get('judgements_flagged'))} judgements); {ev.get('test')}"]  # fmt: skip
    else:
        parts = []
    return "; ".join(parts)


def finding(f: Mapping[str, Any]) -> str:
    where = ", ".join(f"{k}={_short(str(v))}" for k, v in (f.get("where") or {}).items())
    score = f.get("score_text") or f"{100 * float(f.get('score') or 0):.2f} KPI pts explained"
    return (
        f'<div class="finding" data-kind="{e(f.get("kind"))}"><div class="t">{e(f.get("title"))}</div>'
        f'<div class="e">{e(f.get("kind"))} · {e(where)} · {e(score)} · {e(evidence_text(f))}</div>'
        f'<div class="a">→ {e(f.get("action"))}</div></div>'
    )


def ranked(data: Mapping[str, Any], limit: int = 5) -> str:
    """The top findings of each score unit side by side, each in its own unit."""
    by_unit: dict[str, list[Mapping[str, Any]]] = {u: [] for u in SCORE_UNITS}
    for f in all_findings(data):
        by_unit.setdefault(str(f.get("score_unit") or "kpi_points"), []).append(f)
    heads = {"kpi_points": "Quality (KPI points explained)",
             "model_points": "Models (points of model quality lost)",
             "bias_points": "Preference data (points off 50%)"}  # fmt: skip
    cols = []
    for u, rows in by_unit.items():
        items = "".join(f"<li>{e(f.get('title'))} <span class=muted>({e(f.get('score_text', ''))})"
                        "</span></li>" for f in rows[:limit])  # fmt: skip
        cols.append(f"<div><h3>{e(heads.get(u, u))}</h3>"
                    + (f"<ol>{items}</ol>" if items else "<p class=muted>none</p>") + "</div>")  # fmt: skip
    return f'<div class="grid findings-ranked">{"".join(cols)}</div>'


def _change(i: int, c: Mapping[str, Any]) -> str:
    kpi = str(c.get("kpi"))
    delta = float(c["change"])
    moved = f"{100 * delta:+.1f} pts" if unit(kpi) == "share" else f"{delta:+.4g}"
    task = f" · task {c['task']}" if c.get("task") else ""
    head = (
        f"<h3>{e(kpi_label(kpi) + task)}: {e(c['before']['label'])} → "
        f"{e(c['after']['label'])} ({moved}, p = {float(c['p_value']):.2g})</h3>"
    )
    a = c.get("analysis")
    if not a:
        return head + f"<p class=note>{e(c.get('note') or 'not analysed')}</p>"
    deco = a.get("decomposition") or a.get("kitagawa") or []
    chart = (
        charts.decomposition_chart(deco, title="Mix versus rate (Kitagawa)", div_id=f"deco-{i}")
        if deco
        else ""
    )
    found = "".join(finding(f) for f in a.get("findings", [])[:5])
    return head + chart + (found or "<p class=muted>no significant finding</p>")


def causes(data: Mapping[str, Any]) -> str:
    blocks = "".join(_change(i, c) for i, c in enumerate(data.get("changes", [])))
    if not blocks:
        blocks = (
            "<p class=muted>no significant change to analyse</p>"
            if data.get("dated", True)
            else "<p class=note>Not computed: weekly root causes need submitted_at dates.</p>"
        )
    loop = "".join(finding(f) for f in data.get("data_loop", []))
    return (
        '<section id="root-causes"><h2>Root causes and recommended actions</h2>'
        + ranked(data)
        + blocks
        + "</section>"
        + '<section id="data-loop"><h2>Model and preference data</h2>'
        + (loop or "<p class=muted>no model or preference findings</p>")
        + "</section>"
    )


def notes(data: Mapping[str, Any]) -> str:
    items = "".join(f"<li>{e(n)}</li>" for n in data.get("notes", []))
    if not items:
        return ""
    return (
        '<section id="notes"><h2>What could not be computed</h2>'
        f'<ul class="note">{items}</ul></section>'
    )


def inference(data: Mapping[str, Any]) -> str:
    """Truth inference as ``opsloop infer`` stored it: method, accuracy, raters, relabel queue."""
    inf = data.get("inference")
    head = '<section id="inference"><h2>Truth inference</h2>'
    if not inf:
        return head + "<p class=note>not run yet: <code>opsloop infer</code> adds it</p></section>"
    s = inf.get("summary") or {}
    chose = " (chosen by <code>auto</code>)" if s.get("requested_method") == "auto" else ""
    if missing(s.get("accuracy")):
        accuracy = "no gold to score it on"
    else:
        accuracy = (
            f"accuracy {fmt(s.get('accuracy'), 'share')} "
            f"[{fmt(s.get('accuracy_low'), 'share')}–{fmt(s.get('accuracy_high'), 'share')}] "
            f"on {count(s.get('n_gold'))} gold items, {e(s.get('accuracy_method', ''))}"
        )
    stale = (
        "<p class=note>stale: the data changed since <code>opsloop infer</code> ran; "
        "run it again</p>"
        if inf.get("stale")
        else ""
    )
    rows = [*inf.get("raters", []), *inf.get("relabel", [])]
    tasks = any(r.get("task") not in (None, "label") for r in rows)

    def task(r: Mapping[str, Any]) -> str:
        return f"<td>{e(r.get('task', ''))}</td>" if tasks else ""

    task_head = "<th>task</th>" if tasks else ""
    rater_rows = "".join(
        f"<tr><td>{e(r.get('rater_id'))}</td>{task(r)}"
        f"<td class=num>{fmt(r.get('accuracy'), 'share')}</td>"
        f"<td class=num>{fmt(r.get('accuracy_low'), 'share')}–{fmt(r.get('accuracy_high'), 'share')}</td>"
        f"<td class=num>{fmt(r.get('spammer_score'))}</td></tr>"
        for r in inf.get("raters", [])
    )
    relabel_rows = "".join(
        f"<tr><td class=num>{count(r.get('rank'))}</td><td>{e(r.get('item_id'))}</td>"
        f"{task(r)}<td>{e(r.get('consensus'))}</td>"
        f"<td class=num>{fmt(r.get('quality'))}</td><td class=num>{count(r.get('n_labels'))}</td>"
        f"<td class=num>{count(r.get('n_disagree'))}</td></tr>"
        for r in inf.get("relabel", [])
    )
    return (
        head + stale + f"<p>{e(s.get('method', ''))}{chose}: {count(s.get('n_items'))} items from "
        f"{count(s.get('n_annotations'))} labels; {accuracy}.</p>"
        "<h3>Least reliable raters (estimated without gold)</h3><table><tr><th>rater</th>"
        f"{task_head}<th>accuracy</th><th>95% CI</th><th>spammer score</th></tr>"
        + rater_rows
        + "</table><h3>Relabel first</h3><table><tr><th>rank</th><th>item</th>"
        + task_head
        + "<th>consensus</th><th>confidence</th><th>labels</th><th>disagreeing</th></tr>"
        + relabel_rows
        + "</table></section>"
    )
