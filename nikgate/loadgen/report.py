"""A report from the client processes' results: merged, checked, printed, plotted."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from .histogram import PERCENTILES, Histogram
from .runner import BenchSpec, spec_dict
from .workload import items_per_call


def merge(spec: BenchSpec, results: list[dict]) -> dict:
    """One report: totals, latency percentiles, status codes, timeline, open-loop shortfall."""
    hist, late = Histogram(), Histogram()
    codes: dict[str, int] = {}
    errors: list[str] = []
    timeline: dict[int, list] = {}
    for r in results:
        hist.add(Histogram.decode(r["histogram"]))
        late.add(Histogram.decode(r["late"]))
        for code, n in r["codes"].items():
            codes[code] = codes.get(code, 0) + n
        errors += r["errors"]
        for sec, (ok, items, errs, h) in r["timeline"].items():
            slot = timeline.setdefault(int(sec), [0, 0, 0, Histogram()])
            slot[0] += ok
            slot[1] += items
            slot[2] += errs
            slot[3].add(Histogram.decode(h))
    calls = sum(r["calls"] for r in results)
    ok = codes.get("OK", 0)
    items = sum(r["items"] for r in results)
    seconds = max(r["seconds"] for r in results)
    report = {
        "spec": spec_dict(spec),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "count": calls,
        "ok": ok,
        "failed": calls - ok,
        "items": items,
        "items_per_call": items_per_call(spec.workload, spec.batch),
        "duration_s": seconds,
        "calls_per_s": ok / seconds,
        "items_per_s": items / seconds,
        "latency_ms": hist.summary_ms(),
        "histogram_ms": hist.buckets_ms(10),
        "percentile_curve_ms": hist.curve_ms(),
        "status_codes": dict(sorted(codes.items())),
        "errors": errors[:20],
        "timeline": [{"second": s, "ok": v[0], "items": v[1], "errors": v[2],
                      "p50_ms": v[3].percentile_ms(50), "p99_ms": v[3].percentile_ms(99)}
                     for s, v in sorted(timeline.items())],
        "processes": len(results),
    }
    if spec.mode == "open":
        achieved = calls / seconds
        report["open_loop"] = {
            "target_calls_per_s": spec.rate,
            "achieved_calls_per_s": achieved,
            "answered_ok_per_s": ok / seconds,
            "shortfall": max(0.0, 1 - ok / seconds / spec.rate),
            "start_lag_ms": late.summary_ms(),
            "note": "latency counts from each call's scheduled start (no coordinated "
                    "omission)",
        }
    return report


def render(report: dict) -> str:
    """The human report, in the spirit of ghz's."""
    s = report["spec"]
    lines = ["", "Summary:",
             f"  Target:      {s.get('gateway') if s['workload'].endswith('_json') else s['target']}"
             f"  ({s['workload']}"
             + (f", batch {s['batch']}" if report["items_per_call"] > 1 else "") + ")",
             "  Load:        " + (f"open loop at {s['rate']:g} calls/s" if s["mode"] == "open"
                                   else f"closed loop, {s['concurrency']} in flight")
             + f"; {s['processes']} processes x {s['channels']} channels",
             f"  Count:       {report['count']:,} calls ({report['ok']:,} OK, "
             f"{report['failed']:,} failed)",
             f"  Total:       {report['duration_s']:.2f} s",
             f"  Calls/s:     {report['calls_per_s']:,.1f}",
             f"  Items/s:     {report['items_per_s']:,.1f}"]
    lat = report["latency_ms"]
    if lat:
        lines += [f"  Fastest:     {lat['min']:.2f} ms", f"  Slowest:     {lat['max']:.2f} ms",
                  f"  Average:     {lat['mean']:.2f} ms", "", "Latency distribution:"]
        lines += [f"  {p:>6}%  in {lat[f'p{p:g}']:.2f} ms" for p in PERCENTILES]
        lines += ["", "Response time histogram (ms):"]
        top = max(c for _, c in report["histogram_ms"]) or 1
        for upper, c in report["histogram_ms"]:
            lines.append(f"  {upper:10.2f} [{c:>8,}] |{'∎' * round(40 * c / top)}")
    if "open_loop" in report:
        o = report["open_loop"]
        verdict = ("kept up" if o["shortfall"] < 0.01 else
                   f"FELL SHORT by {o['shortfall']:.1%}")
        lines += ["", "Open loop:",
                  f"  asked {o['target_calls_per_s']:,.1f} calls/s, answered OK "
                  f"{o['answered_ok_per_s']:,.1f}/s: {verdict}",
                  "  latencies count from each call's scheduled start"]
        if o["start_lag_ms"]:
            lines.append(f"  start lag p99 {o['start_lag_ms']['p99']:.2f} ms (client side)")
    lines += ["", "Status code distribution:"]
    lines += [f"  [{code}] {n:,} responses" for code, n in report["status_codes"].items()]
    if report["errors"]:
        lines += ["", "Error distribution (first ones):"]
        lines += [f"  {e}" for e in report["errors"][:10]]
    return "\n".join(lines) + "\n"


def write_json(report: dict, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(report, indent=2) + "\n")


def plot(report: dict, path: str | Path) -> None:
    """Two panels: latency by percentile (HDR style, log-scaled tail) and throughput with
    p50/p99 latency per second over the run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = report["spec"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    curve = report["percentile_curve_ms"]
    if curve:
        xs = [1 / (1 - min(p, 99.9999) / 100) for p, _ in curve]
        left.plot(xs, [v for _, v in curve], color="tab:blue")
        left.set_xscale("log")
        ticks = [(2, "50%"), (10, "90%"), (100, "99%"), (1000, "99.9%"), (10**4, "99.99%"),
                 (10**5, "99.999%")]
        shown = [(x, label) for x, label in ticks if x <= max(xs) * 1.01]
        left.set_xticks([x for x, _ in shown], [label for _, label in shown])
        left.set_xlim(1, max(xs) * 1.1)
    left.set_xlabel("percentile")
    left.set_ylabel("latency (ms)")
    left.set_title("latency by percentile")
    left.grid(True, alpha=0.3)
    # whole seconds only: the last one is cut short by the end of the run
    t = [x for x in report["timeline"] if x["second"] < int(report["duration_s"])]
    if t:
        secs = [x["second"] for x in t]
        right.bar(secs, [x["items"] for x in t], color="tab:green", alpha=0.5,
                  label="items/s")
        right.set_ylabel("items per second")
        right.set_xlabel("second of the run")
        twin = right.twinx()
        twin.plot(secs, [x["p50_ms"] for x in t], color="tab:blue", label="p50 ms")
        twin.plot(secs, [x["p99_ms"] for x in t], color="tab:red", label="p99 ms")
        twin.set_ylabel("latency (ms)")
        handles = right.get_legend_handles_labels()
        more = twin.get_legend_handles_labels()
        right.legend(handles[0] + more[0], handles[1] + more[1], loc="lower right")
    right.set_title("throughput and latency over time")
    load = (f"open loop {s['rate']:g}/s" if s["mode"] == "open"
            else f"{s['concurrency']} in flight")
    fig.suptitle(f"nikgate bench: {s['workload']}"
                 + (f" x{s['batch']}" if report["items_per_call"] > 1 else "")
                 + f", {load}, {report['items_per_s']:,.0f} items/s, p99 "
                 f"{report['latency_ms'].get('p99', 0):.2f} ms")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def render_compare(comp: dict) -> str:
    lines = ["", f"Compare: batched verification, {comp['batch']} per batch, "
                 f"{comp['concurrency']} in flight, same items, one Python client",
             f"  {'system':<40} {'items/s':>12} {'nikgate is':>11}"]
    for r in comp["rows"]:
        if r.get("error"):
            lines.append(f"  {r['name']:<40} {'-':>12} {'':>11}  ({r['error']})")
            continue
        ratio = r["nikgate_ratio"]
        lines.append(f"  {r['name']:<40} {r['items_per_s']:>12,.0f} "
                     f"{(f'{ratio:.2f}x' if ratio else '-'):>11}")
    lines.append("")
    for t in comp["targets"]:
        ratio = f"{t['ratio']:.2f}x" if t["ratio"] else "not measured"
        lines.append(f"  {'MET   ' if t['met'] else 'MISSED'} {t['target']}: {ratio}")
    return "\n".join(lines) + "\n"


def json_vs_grpc(reports: list[dict]) -> list[dict]:
    """Each JSON workload of one run against its gRPC twin in the same run: calls/s and
    latency, and their ratios (JSON / gRPC)."""
    from .workload import grpc_twin, is_json

    by_name = {r["spec"]["workload"]: r for r in reports}
    rows = []
    for name, r in by_name.items():
        twin = by_name.get(grpc_twin(name))
        if not is_json(name) or twin is None:
            continue
        row = {"workload": name, "grpc": twin["spec"]["workload"],
               "items_per_call": r["items_per_call"],
               "json_calls_per_s": r["calls_per_s"], "grpc_calls_per_s": twin["calls_per_s"],
               "throughput_ratio": r["calls_per_s"] / twin["calls_per_s"]
               if twin["calls_per_s"] else None}
        for p in ("p50", "p99"):
            j, g = (r["latency_ms"] or {}).get(p), (twin["latency_ms"] or {}).get(p)
            row[f"json_{p}_ms"], row[f"grpc_{p}_ms"] = j, g
            row[f"{p}_ratio"] = j / g if j and g else None
        rows.append(row)
    return rows


def render_json_vs_grpc(rows: list[dict]) -> str:
    if not rows:
        return "\n(no JSON workload with its gRPC twin in this run)\n"

    def ratio(x):
        return f"{x:.2f}x" if x else "-"

    lines = ["", "JSON (gateway) against gRPC, same run:",
             f"  {'workload':<20} {'calls/s':>18} {'ratio':>7} {'p50 ms':>17} {'ratio':>7} "
             f"{'p99 ms':>17} {'ratio':>7}"]
    for r in rows:
        lines.append(
            f"  {r['workload']:<20} {r['json_calls_per_s']:>8,.0f} / {r['grpc_calls_per_s']:<7,.0f}"
            f" {ratio(r['throughput_ratio']):>7} {r['json_p50_ms'] or 0:>7.2f} / "
            f"{r['grpc_p50_ms'] or 0:<7.2f} {ratio(r['p50_ratio']):>7} "
            f"{r['json_p99_ms'] or 0:>7.2f} / {r['grpc_p99_ms'] or 0:<7.2f} "
            f"{ratio(r['p99_ratio']):>7}")
    lines.append("  (JSON / gRPC; calls/s higher is better, latency lower is better)")
    return "\n".join(lines) + "\n"
