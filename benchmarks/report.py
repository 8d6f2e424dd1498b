"""The report written out: raw JSON, the README section (latest.md), the chart (latest.png) and the terminal."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Tuple

from benchmarks.containers import ORDER, TITLES
from benchmarks.results import Report

# Targets the results are judged against (issue 7).
TARGET_VS_GUNICORN_RPS = 0.75
TARGET_VS_GUNICORN_P99 = 1.2
TARGET_VS_SEED_RPS = 4.0
TARGET_FIRST_200_S = 1.0
TARGET_IMAGE_OVER_BASE_MB = 40.0
TARGET_IDLE_MIB = 70.0

Ratio = Tuple[str, float, str, bool]  # name, value, target, met


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def ratios(report: Report) -> List[Ratio]:
    s = report.summary
    rows: List[Ratio] = []
    if "stack" in s and "gunicorn" in s:
        r = ratio(s["stack"].rps, s["gunicorn"].rps)
        rows.append(("stack / gunicorn alone, req/s", r, f">= {TARGET_VS_GUNICORN_RPS}", r >= TARGET_VS_GUNICORN_RPS))
        r = ratio(s["stack"].p99_ms, s["gunicorn"].p99_ms)
        rows.append(("stack / gunicorn alone, p99", r, f"<= {TARGET_VS_GUNICORN_P99}", r <= TARGET_VS_GUNICORN_P99))
    if "stack" in s and "seed" in s:
        r = ratio(s["stack"].rps, s["seed"].rps)
        rows.append(("stack / seed, req/s", r, f">= {TARGET_VS_SEED_RPS}", r >= TARGET_VS_SEED_RPS))
    if "stack" in s and "nginx" in s:
        r = ratio(s["stack"].rps, s["nginx"].rps)
        rows.append(("stack / nginx alone, req/s", r, "(the ceiling)", True))
    return rows


def render_markdown(report: Report) -> str:
    m, s, v = report.machine, report.summary, report.versions
    lines = [
        f"Measured {report.date} on {m.nproc} CPUs ({m.cpu}), Docker {m.docker}, {m.wrk}; "
        f"image `{report.image}` (Python {v['python']}, aiohttp {v['aiohttp']}, "
        f"gunicorn {v['gunicorn']}, {v['nginx']}), {report.workers} gunicorn workers everywhere.",
        "",
        f"Load: `wrk -t{report.threads} -c{report.connections} -d{report.duration:g}s --latency` on 127.0.0.1 (host networking), "
        f"the configurations alternated round by round, {report.rounds_count} rounds after a {report.warmup:g} s warm-up each; "
        f"medians. Load average before the run: {' '.join(m.loadavg_before)}.",
        "",
        "| Configuration | req/s | p50 | p99 | non-2xx | socket errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key in ORDER:
        if key in s:
            r = s[key]
            lines.append(f"| {TITLES[key]} | {r.rps:,.0f} | {r.p50_ms:.2f} ms | {r.p99_ms:.2f} ms | {r.non2xx} | {r.socket_errors} |")
    lines += ["", "| Ratio | value | target | |", "|---|---:|---|---|"]
    for name, value, target, ok in ratios(report):
        lines.append(f"| {name} | {value:.2f} | {target} | {verdict(ok) if target[0] in '<>' else ''} |")
    st = report.stack_extras
    if st:
        over = (st.image_bytes - st.base_bytes) / 1e6
        lines += [
            "",
            "| Stack image | value | target | |",
            "|---|---:|---|---|",
            f"| `docker run` to first 200 (median of {len(st.first_200_s)}) | {st.first_200_median_s:.2f} s "
            f"| <= {TARGET_FIRST_200_S:g} s | {verdict(st.first_200_median_s <= TARGET_FIRST_200_S)} |",
            f"| idle memory, 2 workers (`docker stats`) | {st.idle_mib:.1f} MiB "
            f"| <= {TARGET_IDLE_MIB:g} MiB | {verdict(st.idle_mib <= TARGET_IDLE_MIB)} |",
            f"| image size | {st.image_bytes / 1e6:.0f} MB | base `{st.base}` {st.base_bytes / 1e6:.0f} MB + <= "
            f"{TARGET_IMAGE_OVER_BASE_MB:g} MB | +{over:.0f} MB, {verdict(over <= TARGET_IMAGE_OVER_BASE_MB)} |",
        ]
    lines += [
        "",
        "![requests per second and p99 latency per configuration](benchmarks/results/latest.png)",
        "",
        "The stack's access log is on (its default), so nginx writes one line per request to the container's output. "
        "Configurations: `benchmarks/containers.py`; the seed's is in `benchmarks/seed/`.",
        f"Command: `{report.command}`",
    ]
    return "\n".join(lines) + "\n"


def render_png(report: Report, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart (pip install matplotlib)", file=sys.stderr)
        return False
    s = report.summary
    keys = [k for k in ORDER if k in s]
    names = [TITLES[k].split(" (")[0] for k in keys]
    colors = {"stack": "#1f77b4", "seed": "#d62728", "gunicorn": "#2ca02c", "nginx": "#7f7f7f"}
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    bars = left.bar(names, [s[k].rps for k in keys], color=[colors[k] for k in keys])
    left.bar_label(bars, labels=[f"{s[k].rps:,.0f}" for k in keys], fontsize=8)
    left.set_title("requests/s (higher is better)")
    bars = right.bar(names, [s[k].p99_ms for k in keys], color=[colors[k] for k in keys])
    right.bar_label(bars, labels=[f"{s[k].p99_ms:.1f}" for k in keys], fontsize=8)
    right.set_title("p99 latency, ms (lower is better)")
    fig.suptitle(
        f"wrk -t{report.threads} -c{report.connections}, {report.workers} workers, {report.machine.nproc} CPUs, {report.date}",
        fontsize=9,
    )
    for ax in (left, right):
        ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def print_report(report: Report) -> None:
    s = report.summary
    print()
    print(f"{'configuration':<34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'errors':>7}  rounds")
    for key in ORDER:
        if key in s:
            r = s[key]
            print(
                f"{TITLES[key]:<34} {r.rps:>9.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.non2xx:>8} {r.socket_errors:>7}  {r.rps_all}"
            )
    st = report.stack_extras
    if st:
        print()
        print(f"stack: first 200 after docker run {st.first_200_median_s:.2f} s (median of {[round(t, 2) for t in st.first_200_s]})")
        print(f"stack: idle memory with 2 workers {st.idle_mib:.1f} MiB (samples {[round(x, 1) for x in st.idle_mib_samples]})")
        print(
            f"stack: image {st.image_bytes / 1e6:.1f} MB, base {st.base} {st.base_bytes / 1e6:.1f} MB "
            f"(+{(st.image_bytes - st.base_bytes) / 1e6:.1f} MB)"
        )
    print()
    for name, value, target, ok in ratios(report):
        flag = "" if target[0] not in "<>" else ("  ok" if ok else "  MISSED")
        print(f"{name:<32} {value:6.2f}   target {target}{flag}")


def write_raw(data: object, out: Path, stamp: str, prefix: str = "") -> Path:
    """The run as JSON in OUT/raw/ (git-ignored): every measurement, for later comparison."""
    raw = out / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    path = raw / f"{prefix}{stamp}.json"
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def write_latest(report: Report, out: Path) -> List[Path]:
    """latest.md (the README's benchmark section, scripts/readme.py copies it) and latest.png."""
    written = [out / "latest.md"]
    written[0].write_text(render_markdown(report))
    if render_png(report, out / "latest.png"):
        written.append(out / "latest.png")
    return written
