"""The benchmark package without Docker: a Report summarised, judged against its targets and written out."""

from __future__ import annotations

import json
from typing import Dict, List

from benchmarks.measure import mib, summarize
from benchmarks.report import ratios, render_markdown
from benchmarks.results import Machine, Measurement, Report, StackExtras


def measurement(rps: float, p99_us: int, non2xx: int = 0) -> Measurement:
    return Measurement(
        requests=int(rps * 10), duration_us=10_000_000, bytes_read=0, p50_us=p99_us // 4, p75_us=0, p90_us=0, p99_us=p99_us,
        max_us=p99_us, mean_us=0.0, rps=rps, non2xx=non2xx, socket_errors=0, errors={}, text="",
        cpu_s={"container": rps * 10 / 1e4}, other_cpu_frac=0.0,
    )  # fmt: skip


def report(rounds: Dict[str, List[Measurement]]) -> Report:
    return Report(
        date="2026-11-27 03:00 UTC", command="benchmarks/run.sh", image="aiohttp-nginx:python3.13", image_id="sha256:x",
        versions={"python": "3.13.0", "aiohttp": "3", "gunicorn": "23", "nginx": "nginx/1.26"},
        machine=Machine(nproc=2, cpu="cpu", kernel="6", docker="27", wrk="wrk 4", loadavg_before=["0.1", "0.1", "0.1"]),
        workers=2, rounds_count=3, threads=2, connections=64, duration=10, warmup=3, args={},
        summary={k: summarize(v) for k, v in rounds.items()}, rounds=rounds, targets=[],
        stack_extras=StackExtras([0.5, 0.7, 0.6], 0.6, [50.0], 50.0, "python:3.13-slim", 200_000_000, 150_000_000),
    )  # fmt: skip


def test_a_summary_takes_the_median_round_and_counts_every_error() -> None:
    summary = summarize([measurement(100, 9000, non2xx=1), measurement(300, 1000), measurement(200, 5000, non2xx=2)])
    assert (summary.rps, summary.p99_ms, summary.non2xx, summary.rps_all) == (200, 5.0, 3, [100, 300, 200])
    assert summary.cpu_ms_per_1k == 100.0  # 0.1 ms of container CPU per request


def test_the_stack_is_judged_against_gunicorn_alone() -> None:
    rounds = {"stack": [measurement(600, 2000)], "gunicorn": [measurement(1000, 1000)]}
    assert [(name, round(value, 2), ok) for name, value, _, ok in ratios(report(rounds))] == [
        ("stack / gunicorn alone, req/s", 0.6, False),
        ("stack / gunicorn alone, p99", 2.0, False),
    ]


def test_the_readme_section_has_a_row_per_configuration_and_the_stack_figures() -> None:
    text = render_markdown(report({"stack": [measurement(31000, 7000)], "nginx": [measurement(90000, 1000)]}))
    assert "| stack (this image, defaults) | 31,000 | 1.75 ms | 7.00 ms | 0 | 0 |" in text
    assert "| nginx alone (return 200) | 90,000 |" in text
    assert "| image size | 200 MB | base `python:3.13-slim` 150 MB + <= 40 MB | +50 MB, **missed** |" in text


def test_the_raw_report_is_json() -> None:
    data = json.loads(json.dumps(report({"stack": [measurement(1, 1)]}).to_json()))
    assert data["rounds"]["stack"][0]["rps"] == 1
    assert data["stack_extras"]["first_200_median_s"] == 0.6


def test_docker_stats_memory_units() -> None:
    assert [mib("80.5MiB"), mib("1GiB"), mib("512KiB")] == [80.5, 1024, 0.5]
