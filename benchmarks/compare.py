"""Two runs of the benchmark side by side: the ratios of each, and CPU per 1,000 requests by process, before and after.

    python -m benchmarks.compare benchmarks/results/BEFORE.json benchmarks/results/latest.json --out benchmarks/results/NAME.md

Each run's ratios are against the baselines of that run (gunicorn alone, the bare proxy measured with it): the
machine's speed drifts between runs, so absolute req/s of two runs do not compare, their ratios and CPU per
request do, roughly.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional, Sequence

from benchmarks.measure import ROLE_TITLES, ROLES
from benchmarks.report import ratios, row_keys, title
from benchmarks.results import Report

# the rows whose CPU by process is compared
CPU_ROWS = ("stack", "stack-nolog", "bare", "gunicorn-log", "gunicorn")


def fmt(value: Optional[float], digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def change(before: Optional[float], after: Optional[float]) -> str:
    return f"{after / before:.2f}x" if before and after is not None else ""


def short_name(ratio_name: str) -> str:
    """A ratio's name without what varies from run to run (the error count in parentheses)."""
    return ratio_name.split(" (stack errors")[0]


def render_comparison(before: Report, after: Report, before_label: str, after_label: str) -> str:
    lines = [
        f"Before: {before_label}, image `{before.image}`, measured {before.date} (`{before.command}`).",
        f"After: {after_label}, image `{after.image}`, measured {after.date} (`{after.command}`).",
        "",
        "| Ratio (each within its own run) | before | after | target |",
        "|---|---:|---:|---|",
    ]
    earlier = {short_name(name): (value, name) for name, value, _, _ in ratios(before)}
    for name, value, target, ok in ratios(after):
        short = short_name(name)
        was = earlier.get(short)
        was_text = f"{was[0]:.2f}{was[1][len(short) :]}" if was else ""
        verdict = ("met" if ok else "**missed**") if target else ""
        lines.append(f"| {short} | {was_text} | {value:.2f}{name[len(short) :]} | {target} {verdict} |".replace("  |", " |"))
    lines += ["", "| Row | req/s before | req/s after | p99 ms before | p99 ms after | errors before | errors after |"]
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for key in row_keys(after.summary):
        a = after.summary[key]
        b = before.summary.get(key)
        lines.append(
            f"| {title(after, key)} | {f'{b.rps:,.0f}' if b else ''} | {a.rps:,.0f} | {fmt(b.p99_ms, 2) if b else ''} | {a.p99_ms:.2f} "
            f"| {f'{b.non2xx + b.socket_errors}' if b else ''} | {a.non2xx + a.socket_errors} |"
        )
    for key in CPU_ROWS:
        if key not in after.summary or key not in before.summary:
            continue
        b, a = before.summary[key], after.summary[key]
        lines += [
            "",
            f"CPU ms per 1,000 requests by process, {title(after, key)} (medians over the rounds; other load "
            f"{fmt((b.other_load or 0) * 100, 0)} % before, {fmt((a.other_load or 0) * 100, 0)} % after):",
            "",
            "| process | before | after | after / before |",
            "|---|---:|---:|---:|",
        ]
        for role in ROLES:
            then, now = b.cpu_ms_per_1k_by_role.get(role), a.cpu_ms_per_1k_by_role.get(role)
            if then is not None or now is not None:
                lines.append(f"| {ROLE_TITLES[role]} | {fmt(then)} | {fmt(now)} | {change(then, now)} |")
        then, now = b.cpu_ms_per_1k, a.cpu_ms_per_1k
        lines.append(f"| **total** (container + log path) | {fmt(then)} | {fmt(now)} | {change(then, now)} |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.compare", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    p.add_argument("--before-label", default="before")
    p.add_argument("--after-label", default="after")
    p.add_argument("--out", type=Path, help="write the markdown here (default: print it)")
    args = p.parse_args(argv)
    reports: List[Report] = []
    for path in (args.before, args.after):
        try:
            reports.append(Report.from_json(json.loads(path.read_text())))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"compare: {path}: not a benchmark run's JSON ({exc})", file=sys.stderr)
            return 1
    text = render_comparison(reports[0], reports[1], args.before_label, args.after_label)
    if args.out:
        args.out.write_text(text)
        print(f"wrote {args.out}")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
