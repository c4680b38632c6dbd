"""``stepml report``: one static HTML page per run (standard library only; plots are inline SVG).

Sections: the run (pipeline, status, parameters), the step tree with timings and cache hits, the check results
(failed and insufficient-data first), drift per feature (verdict, statistics, a reference-vs-current bar chart
per column), alarm states with the datapoints behind them, each online test's read-out (metrics with intervals
and lifts, sample ratio, multiple exposure, preference, agreement), and a link to evidently's report when one was
rendered. The page has no scripts and loads nothing from the network.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence
from typing import Any

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1d2330;max-width:1200px}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #dde}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}td,th{border:1px solid #dde;padding:.25rem .5rem;text-align:left}
th{background:#f4f5f9}.pass,.OK,.ran,.succeeded,.no_drift{color:#17803d}.fail,.ALARM,.failed,.drift{color:#c0262d;font-weight:600}
.insufficient_data,.INSUFFICIENT_DATA,.skipped{color:#a66a00}.cached{color:#1b6fa8}
.grid{display:flex;flex-wrap:wrap;gap:1rem}.card{border:1px solid #dde;border-radius:6px;padding:.5rem;width:360px}
.card h3{font-size:1rem;margin:.2rem 0}.muted{color:#667;font-size:.85rem}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _num(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        return f"{x:.4g}"
    return _e(x)


def _time(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def bar_chart(bins: Sequence[Mapping[str, Any]], *, width: int = 340, height: int = 150) -> str:
    """Grouped bars: reference (grey) vs current (blue) share per bin/category, as inline SVG."""
    if not bins:
        return '<p class="muted">no data to plot</p>'
    top = max(max(float(b["reference"]), float(b["current"])) for b in bins) or 1.0
    n = len(bins)
    slot = (width - 10) / n
    bar = max(slot / 2 - 1, 1)
    plot_h = height - 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="reference vs current distribution">'
    ]
    for i, b in enumerate(bins):
        x = 5 + i * slot
        for j, (key, color) in enumerate((("reference", "#9aa3b5"), ("current", "#2f6fde"))):
            h = plot_h * float(b[key]) / top
            label = f"{b['label']}: {key} {float(b[key]):.3f}"
            parts.append(
                f'<rect class="{key}" x="{x + j * bar:.1f}" y="{plot_h - h + 5:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{color}"><title>{_e(label)}</title></rect>'
            )
    parts.append(f'<line x1="5" y1="{plot_h + 5}" x2="{width - 5}" y2="{plot_h + 5}" stroke="#556"/>')
    parts.append(
        f'<text x="5" y="{height - 6}" font-size="11" fill="#556">{_e(bins[0]["label"])}</text>'
        f'<text x="{width - 5}" y="{height - 6}" font-size="11" fill="#556" text-anchor="end">'
        f"{_e(bins[-1]['label'])}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def render_report(
    *,
    run: Mapping[str, Any],
    check: Mapping[str, Any] | None,
    alarms: Sequence[Mapping[str, Any]],
    evidently_href: str | None,
    readouts: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The page as a string; ``run`` is a run record (``RunRecord.to_json()``), ``check`` the check report."""
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>stepml report · {_e(run.get('pipeline'))} · {_e(run.get('run_id'))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{_e(run.get('pipeline'))} · run {_e(run.get('run_id'))}</h1>",
        f"<p>status <span id='run-status' class='{_e(run.get('status'))}'>{_e(run.get('status'))}</span> · "
        f"started {_time(run.get('started_at'))} · params {_e(run.get('params'))}</p>",
    ]
    out += _steps(run.get("steps", []))
    out += _alarms(alarms)
    for readout in readouts:
        out += _readout(readout)
    if check is not None:
        out += _drift(check)
        out += _checks(check)
    else:
        out.append("<h2>Checks</h2><p class='muted'>this run has no check output</p>")
    out.append("<h2>evidently</h2>")
    if evidently_href:
        out.append(
            f"<p><a id='evidently-link' href='{_e(evidently_href)}'>evidently's data drift report</a> "
            "(on a bounded sample; evidently's own tests and thresholds - stepml's verdicts above are the ones "
            "that alarm)</p>"
        )
    else:
        out.append("<p class='muted'>no evidently report was rendered for this run</p>")
    out.append("</body></html>")
    return "\n".join(out)


def _steps(steps: Sequence[Mapping[str, Any]]) -> list[str]:
    rows = [
        "<h2>Steps</h2><table id='steps'><tr><th>step</th><th>type</th><th>status</th><th>time</th>"
        "<th>rows</th><th>detail</th></tr>"
    ]
    for s in steps:
        rows.append(
            f"<tr><td>{_e(s.get('name'))}</td><td>{_e(s.get('type'))}</td>"
            f"<td class='{_e(s.get('status'))}'>{_e(s.get('status'))}</td><td>{float(s.get('duration_s') or 0):.2f}s</td>"
            f"<td>{_num(s.get('rows'))}</td><td>{_e(s.get('error') or s.get('detail') or '')}</td></tr>"
        )
    rows.append("</table>")
    return rows


def _pct(x: Any) -> str:
    return "-" if x is None else f"{float(x):+.2%}"


def _readout(r: Mapping[str, Any]) -> list[str]:
    """An online test's read-out (``steps.readout``): the metric table, SRM, multiple exposure, preference,
    agreement."""
    name = _e(r.get("experiment"))
    out = [f"<h2>Online test {name} ({_e(r.get('kind'))})</h2>"]
    srm = r.get("srm")
    if srm:
        cls = "fail" if srm.get("alert") else "pass"
        observed = ", ".join(f"{_e(k)} {_num(v)}" for k, v in srm.get("observed", {}).items())
        out.append(
            f"<p id='srm-{name}'>sample ratio: <span class='{cls}'>p = {float(srm['p_value']):.3g}"
            f"{' - MISMATCH' if srm.get('alert') else ''}</span> (units {observed}; alert below {srm.get('alpha')})</p>"
        )
    me = r.get("multiple_exposure") or {}
    cls = "fail" if me.get("alert") else "pass"
    out.append(
        f"<p>multiple exposure: <span class='{cls}'>{float(me.get('share') or 0):.2%}</span> of "
        f"{_num(me.get('units'))} units ({_num(me.get('multiple'))} left out of the comparison)</p>"
    )
    pref = r.get("preference")
    if pref:
        out.append(
            f"<p>preference for {_e(pref['a'])} over {_e(pref['b'])}: {_pct(pref.get('preference_a'))[1:]} of "
            f"{_num(pref['wins_a'] + pref['wins_b'])} decided units, sign test p = {float(pref['p_value']):.3g}</p>"
        )
    agreement = r.get("agreement")
    if agreement:
        out.append(
            f"<p>shadow agreement: overlap@{_e(agreement.get('k'))} {_num(agreement.get('overlap_at_k'))}, "
            f"rank correlation {_num(agreement.get('rank_correlation'))}, score PSI {_num(agreement.get('score_psi'))}</p>"
        )
    rows = [r2 for r2 in r.get("table", []) if r2.get("role") in ("metric", "guardrail")]
    if rows:
        out.append(
            f"<table id='readout-{name}'><tr><th>metric</th><th>role</th><th>variant</th><th>units</th><th>value</th>"
            "<th>interval</th><th>relative lift</th><th>interval</th><th>p</th><th>verdict</th></tr>"
        )
        for row in rows:
            verdict = "breached" if row.get("breached") else ("significant" if row.get("significant") else "")
            cls = "fail" if row.get("breached") else ("pass" if row.get("significant") else "")
            out.append(
                f"<tr><td>{_e(row['metric'])}</td><td>{_e(row['role'])}</td><td>{_e(row['variant'])}</td>"
                f"<td>{_num(row.get('units'))}</td><td>{_num(row.get('value'))}</td>"
                f"<td>[{_num(row.get('ci_low'))}, {_num(row.get('ci_high'))}]</td>"
                f"<td>{_pct(row.get('relative_lift'))}</td>"
                f"<td>[{_pct(row.get('relative_low'))}, {_pct(row.get('relative_high'))}]</td>"
                f"<td>{_num(row.get('p_value'))}</td><td class='{cls}'>{verdict}</td></tr>"
            )
        out.append("</table>")
    return out


def _alarms(alarms: Sequence[Mapping[str, Any]]) -> list[str]:
    out = ["<h2>Alarms</h2>"]
    if not alarms:
        return [*out, "<p class='muted'>no alarms are declared in the spec</p>"]
    out.append(
        "<table id='alarms'><tr><th>alarm</th><th>state</th><th>condition</th><th>reason</th><th>datapoints</th></tr>"
    )
    for a in alarms:
        points = ", ".join(
            "missing" if p["value"] is None else f"{p['value']:.4g}{' (breaching)' if p['breaching'] else ''}"
            for p in a.get("datapoints", [])
        )
        out.append(
            f"<tr data-alarm='{_e(a['name'])}'><td>{_e(a['name'])}</td><td class='{_e(a['state'])}'>{_e(a['state'])}</td>"
            f"<td>{_e(a['condition'])}</td><td>{_e(a['reason'])}</td><td>{_e(points)}</td></tr>"
        )
    out.append("</table>")
    return out


def _drift(check: Mapping[str, Any]) -> list[str]:
    drift = check.get("drift")
    out = ["<h2>Drift</h2>"]
    if not drift:
        return [*out, "<p class='muted'>no reference profile: drift was not checked</p>"]
    ds = drift["dataset"]
    out.append(
        f"<p id='dataset-drift'>dataset: <span class='{_e(ds['verdict'])}'>{_e(ds['verdict'])}</span> - "
        f"{_num(ds['drifted_share'])} of {ds['tested_features']} features drifted (threshold {_num(ds['threshold'])}); "
        f"drifted: <span id='drifted-columns'>{_e(', '.join(ds['drifted']) or 'none')}</span>. A column drifts when "
        f"its effect size reaches its threshold and its test is significant at {_num(ds['alpha'])} after "
        f"{_e(ds['correction'])} correction.</p>"
    )
    out.append(
        "<table id='drift'><tr><th>column</th><th>verdict</th><th>test</th><th>statistic</th><th>p (adjusted)</th>"
        "<th>effect</th><th>value</th><th>threshold</th><th>PSI</th><th>Wasserstein</th><th>n (ref / cur)</th></tr>"
    )
    cols = drift["columns"]
    order = sorted(cols, key=lambda c: ({"drift": 0, "insufficient_data": 1}.get(cols[c]["verdict"], 2), c))
    for name in order:
        c = cols[name]
        out.append(
            f"<tr data-column='{_e(name)}'><td>{_e(name)}{' (prediction)' if c['role'] == 'prediction' else ''}</td>"
            f"<td class='{_e(c['verdict'])}'>{_e(c['verdict'])}</td><td>{_e(c['test'])}</td><td>{_num(c['statistic'])}</td>"
            f"<td>{_num(c['p_adjusted'])}</td><td>{_e(c['effect'])}</td><td>{_num(c['value'])}</td>"
            f"<td>{_num(c['threshold'])}</td><td>{_num(c['psi'])}</td><td>{_num(c['wasserstein'])}</td>"
            f"<td>{_num(c['reference_size'])} / {_num(c['sample_size'])}</td></tr>"
        )
    out.append("</table><div class='grid'>")
    for name in order:
        c = cols[name]
        out.append(
            f"<div class='card' data-plot='{_e(name)}'><h3>{_e(name)} <span class='{_e(c['verdict'])}'>"
            f"{_e(c['verdict'])}</span></h3>{bar_chart(c.get('bins', []))}"
            "<div class='muted'>grey: reference · blue: current (share per bin)</div></div>"
        )
    out.append("</div>")
    return out


def _checks(check: Mapping[str, Any]) -> list[str]:
    out = [
        f"<h2>Checks</h2><p>status <span id='check-status' class='{_e(check.get('status'))}'>"
        f"{_e(check.get('status'))}</span> · {_num(check.get('rows'))} rows · {len(check.get('checks', []))} checks</p>",
        "<table id='checks'><tr><th>check</th><th>column</th><th>status</th><th>value</th><th>comparison</th>"
        "<th>threshold</th><th>sample size</th><th>reference size</th></tr>",
    ]
    rank = {"fail": 0, "insufficient_data": 1, "pass": 2}
    for c in sorted(check.get("checks", []), key=lambda c: rank.get(c["status"], 3)):
        out.append(
            f"<tr><td>{_e(c['name'])}</td><td>{_e(c.get('column') or '')}</td><td class='{_e(c['status'])}'>"
            f"{_e(c['status'])}</td><td>{_num(c['value'])}</td><td>{_e(c['comparison'])}</td>"
            f"<td>{_num(c['threshold'])}</td><td>{_num(c['sample_size'])}</td><td>{_num(c.get('reference_size'))}</td></tr>"
        )
    out.append("</table>")
    return out
