"""The report written out: raw JSON, the README section (latest.md), the chart (latest.png) and the terminal."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from benchmarks.containers import ORDER, TITLES, WIDE, WIDE_SUFFIX
from benchmarks.measure import ROLE_TITLES, ROLES
from benchmarks.results import Report, Summary

# Targets the results are judged against (issue 19; the image's own, issue 7).
TARGET_LOGS_ON_RPS = 0.80
TARGET_LOGS_ON_P99 = 1.2
TARGET_LOGS_OFF_RPS = 0.85
TARGET_CPU_VS_BARE = 1.10
TARGET_WIDE_RPS = 1.0
TARGET_VS_SEED_RPS = 4.0
TARGET_FIRST_200_S = 1.0
TARGET_IMAGE_OVER_BASE_MB = 40.0
TARGET_IDLE_MIB = 70.0

Ratio = Tuple[str, float, str, bool]  # name, value, target ("" when only informative), met


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def row_keys(summary: Dict[str, Summary]) -> List[str]:
    """The rows of a run in report order: the configurations, then the many-connections rows."""
    wide = [k + WIDE_SUFFIX for k in WIDE if k + WIDE_SUFFIX in summary]
    return [k for k in ORDER if k in summary] + [k for k in summary if k not in ORDER and k not in wide] + wide


def title(report: Report, key: str) -> str:
    return report.titles.get(key) or TITLES.get(key, key)


def ratios(report: Report) -> List[Ratio]:
    s = report.summary
    rows: List[Ratio] = []

    def cpu(key: str) -> float:
        value = s[key].cpu_ms_per_1k
        return value if value is not None else float("nan")

    if "stack" in s and "gunicorn-log" in s:
        r = ratio(s["stack"].rps, s["gunicorn-log"].rps)
        rows.append(("logs on: stack / gunicorn alone, req/s", r, f">= {TARGET_LOGS_ON_RPS}", r >= TARGET_LOGS_ON_RPS))
        r = ratio(s["stack"].p99_ms, s["gunicorn-log"].p99_ms)
        rows.append(("logs on: stack / gunicorn alone, p99", r, f"<= {TARGET_LOGS_ON_P99}", r <= TARGET_LOGS_ON_P99))
    if "stack-nolog" in s and "gunicorn" in s:
        r = ratio(s["stack-nolog"].rps, s["gunicorn"].rps)
        rows.append(("logs off: stack / gunicorn alone, req/s", r, f">= {TARGET_LOGS_OFF_RPS}", r >= TARGET_LOGS_OFF_RPS))
        rows.append(("logs off: stack / gunicorn alone, p99", ratio(s["stack-nolog"].p99_ms, s["gunicorn"].p99_ms), "", True))
    if "bare" in s:
        if "stack-nolog" in s:
            r = ratio(cpu("stack-nolog"), cpu("bare"))
            rows.append(("CPU per request, logs off: stack / bare proxy", r, f"<= {TARGET_CPU_VS_BARE}", r <= TARGET_CPU_VS_BARE))
        if "stack" in s:
            rows.append(("CPU per request: stack (access log on) / bare proxy", ratio(cpu("stack"), cpu("bare")), "", True))
        if "gunicorn" in s:
            rows.append(("logs off: bare proxy / gunicorn alone, req/s", ratio(s["bare"].rps, s["gunicorn"].rps), "", True))
    wide_stack, wide_gunicorn = "stack" + WIDE_SUFFIX, "gunicorn-log" + WIDE_SUFFIX
    if wide_stack in s and wide_gunicorn in s:
        r = ratio(s[wide_stack].rps, s[wide_gunicorn].rps)
        errors = s[wide_stack].non2xx + s[wide_stack].socket_errors
        rows.append(
            (f"{report.args.get('wide_connections', 1000):,} connections: stack / gunicorn alone, req/s (stack errors: {errors})",
             r, f">= {TARGET_WIDE_RPS}, 0 errors", r >= TARGET_WIDE_RPS and errors == 0)
        )  # fmt: skip
    for key in [k for k in s if k.startswith("also") and not k.endswith("-nolog")]:
        # another image's stack in the same run (--also): the same judgements, its rows named by its image
        name = report.titles.get(key, key).split(",")[0]
        if "gunicorn-log" in s:
            r = ratio(s[key].rps, s["gunicorn-log"].rps)
            rows.append((f"logs on: {name} / gunicorn alone, req/s", r, f">= {TARGET_LOGS_ON_RPS}", r >= TARGET_LOGS_ON_RPS))
            r = ratio(s[key].p99_ms, s["gunicorn-log"].p99_ms)
            rows.append((f"logs on: {name} / gunicorn alone, p99", r, f"<= {TARGET_LOGS_ON_P99}", r <= TARGET_LOGS_ON_P99))
        if key + "-nolog" in s and "gunicorn" in s:
            r = ratio(s[key + "-nolog"].rps, s["gunicorn"].rps)
            rows.append((f"logs off: {name} / gunicorn alone, req/s", r, f">= {TARGET_LOGS_OFF_RPS}", r >= TARGET_LOGS_OFF_RPS))
        if key + "-nolog" in s and "bare" in s:
            r = ratio(cpu(key + "-nolog"), cpu("bare"))
            rows.append((f"CPU per request, logs off: {name} / bare proxy", r, f"<= {TARGET_CPU_VS_BARE}", r <= TARGET_CPU_VS_BARE))
    if "stack" in s and "seed" in s:
        r = ratio(s["stack"].rps, s["seed"].rps)
        rows.append(("stack / seed, req/s", r, f">= {TARGET_VS_SEED_RPS}", r >= TARGET_VS_SEED_RPS))
    if "stack" in s and "nginx" in s:
        rows.append(("stack / nginx alone, req/s (the ceiling)", ratio(s["stack"].rps, s["nginx"].rps), "", True))
    return rows


def fmt_ms(value: Optional[float]) -> str:
    return "" if value is None else f"{value:.1f}"


def percent_range(values: List[float]) -> str:
    return f"{min(values):.0%}-{max(values):.0%}" if values else "n/a"


def render_markdown(report: Report) -> str:
    m, s, v = report.machine, report.summary, report.versions
    keys = row_keys(s)
    others = [x for k in keys for x in s[k].other_load_all]
    lines = [
        f"Measured {report.date} on {m.nproc} CPUs ({m.cpu}), Docker {m.docker}, {m.wrk}; "
        f"image `{report.image}` (Python {v['python']}, aiohttp {v['aiohttp']}, "
        f"gunicorn {v['gunicorn']}, {v['nginx']}), {report.workers} gunicorn workers everywhere.",
        "",
        f"Load: `wrk -t{report.threads} -c{report.connections} -d{report.duration:g}s --latency` on 127.0.0.1 (host networking), "
        f"every row alternated round by round, {report.rounds_count} rounds after a {report.warmup:g} s warm-up each; "
        f"medians; ratios against the baselines of the same run. The machine was shared: other processes used "
        f"{percent_range(others)} of the CPUs during the rounds (last column, median per row; load average "
        f"{' '.join(m.loadavg_before)} before the run).",
        "",
        "| Configuration | req/s | p50 | p99 | errors (non-2xx / socket) | CPU ms per 1,000 requests | other load |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key in keys:
        r = s[key]
        lines.append(
            f"| {title(report, key)} | {r.rps:,.0f} | {r.p50_ms:.2f} ms | {r.p99_ms:.2f} ms | {r.non2xx} / {r.socket_errors} "
            f"| {fmt_ms(r.cpu_ms_per_1k)} | {'' if r.other_load is None else f'{r.other_load:.0%}'} |"
        )
    lines += [
        "",
        "CPU ms per 1,000 requests by process (`/proc/PID/stat` of each process of the container, the container's "
        "containerd-shim and dockerd, before and after each round; medians over the rounds, so a row need not add up "
        "to its total above; dockerd also serves the machine's other containers):",
        "",
        "| Configuration | " + " | ".join(ROLE_TITLES[r] for r in ROLES) + " |",
        "|---|" + "---:|" * len(ROLES),
    ]
    for key in keys:
        by_role = s[key].cpu_ms_per_1k_by_role
        lines.append(f"| {title(report, key)} | " + " | ".join(fmt_ms(by_role.get(r)) for r in ROLES) + " |")
    lines += ["", "| Ratio | value | target | |", "|---|---:|---|---|"]
    for name, value, target, ok in ratios(report):
        lines.append(f"| {name} | {value:.2f} | {target} | {verdict(ok) if target else ''} |")
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
        "Access logs: the stack's nginx writes its `main` line per request to the container's output; gunicorn alone "
        "with its access log writes a line of the same fields (no request id) to stdout, also through Docker's log "
        "driver. The bare proxy is the stack's image and runtime with a minimal `/app/nginx.conf` (one worker, "
        f"upstream keep-alive, no log, no extra headers); nginx alone answers `return 200` with "
        f"{report.nginx_alone_workers or '1'} worker(s), as many as the stack's nginx. "
        "Configurations: `benchmarks/containers.py`; every round in the JSON next to this file.",
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
    keys = [k for k in row_keys(s) if not k.endswith(WIDE_SUFFIX)]
    names = [k.replace("-", "\n") for k in keys]
    palette = {"stack": "#1f77b4", "stack-nolog": "#6baed6", "bare": "#9467bd", "gunicorn": "#2ca02c", "gunicorn-log": "#98df8a"}
    colors = {k: palette.get(k, "#7f7f7f") for k in keys}
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
    print(f"{'row':<18} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'errors':>7} {'cpu/1k':>7} {'other':>6}  rounds")
    for key in row_keys(s):
        r = s[key]
        cpu = "" if r.cpu_ms_per_1k is None else f"{r.cpu_ms_per_1k:.1f}"
        other = "" if r.other_load is None else f"{r.other_load:.0%}"
        print(
            f"{key:<18} {r.rps:>9.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.non2xx:>8} {r.socket_errors:>7} {cpu:>7} {other:>6}  {r.rps_all}"
        )
    print()
    print(f"{'cpu ms/1k by process':<18} " + " ".join(f"{role[:12]:>12}" for role in ROLES))
    for key in row_keys(s):
        by_role = s[key].cpu_ms_per_1k_by_role
        print(f"{key:<18} " + " ".join(f"{fmt_ms(by_role.get(role)):>12}" for role in ROLES))
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
        flag = "" if not target else ("  ok" if ok else "  MISSED")
        print(f"{name:<60} {value:6.2f}   {('target ' + target) if target else ''}{flag}")


def write_raw(data: object, out: Path, stamp: str, prefix: str = "") -> Path:
    """The run as JSON in OUT/raw/ (git-ignored): every measurement, for later comparison."""
    raw = out / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    path = raw / f"{prefix}{stamp}.json"
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def render_summary(report: Report) -> str:
    """The few lines the README states: the judged ratios of this run, and the command that made them."""
    s = report.summary
    lines = [
        f"Measured {report.date}, image `{report.image}`, {report.machine.nproc} CPUs shared with other work "
        f"(other load {percent_range([x for k in row_keys(s) for x in s[k].other_load_all])} of the CPUs); "
        f"`wrk -t{report.threads} -c{report.connections}`, {report.rounds_count} alternated rounds, medians, "
        f"{report.workers} gunicorn workers; every row in [docs/benchmarks.md](docs/benchmarks.md).",
        "",
        "| Like for like | value | target | |",
        "|---|---:|---|---|",
    ]
    for name, value, target, ok in ratios(report):
        if target and not name.startswith("stack / seed"):
            lines.append(f"| {name} | {value:.2f} | {target} | {verdict(ok)} |")
    for key in ("stack", "stack-nolog", "bare", "gunicorn-log", "gunicorn"):
        if key in s and s[key].cpu_ms_per_1k is not None:
            lines.append(f"| CPU per 1,000 requests, {title(report, key)} | {s[key].cpu_ms_per_1k:.1f} ms |  |  |")
    lines += ["", f"Command: `{report.command}`"]
    return "\n".join(lines) + "\n"


def write_latest(report: Report, out: Path, name: str = "latest") -> List[Path]:
    """NAME.md (latest.md: the benchmark section of docs/benchmarks.md, scripts/readme.py copies it), NAME.json (the
    whole run), NAME-summary.md (the README's few lines) and NAME.png."""
    written = [out / f"{name}.md", out / f"{name}.json", out / f"{name}-summary.md"]
    text = render_markdown(report)
    written[0].write_text(text if name == "latest" else text.replace("results/latest.png", f"results/{name}.png"))
    written[1].write_text(json.dumps(report.to_json(), indent=1) + "\n")
    written[2].write_text(render_summary(report))
    if render_png(report, out / f"{name}.png"):
        written.append(out / f"{name}.png")
    return written
