"""The benchmark package without Docker: a Report summarised, judged against its targets and written out."""

from __future__ import annotations

import json
from typing import Dict, List, Optional

import pytest

from benchmarks.cli import parse_args
from benchmarks.compare import render_comparison
from benchmarks.containers import GUNICORN_ACCESS_FORMAT, Target, bare_nginx_conf, gunicorn_target, wide_target
from benchmarks.measure import Proc, mib, parse_stat, role_cpu_s, role_of, summarize
from benchmarks.process import BenchError
from benchmarks.report import ratios, render_markdown, render_summary, row_keys
from benchmarks.results import Machine, Measurement, Report, StackExtras


def measurement(
    rps: float,
    p99_us: int,
    non2xx: int = 0,
    cpu_ms_per_1k: float = 100.0,
    by_role: Optional[Dict[str, float]] = None,
    socket_errors: int = 0,
) -> Measurement:
    """A 10 s wrk run at `rps`, whose container spent `cpu_ms_per_1k` ms of CPU per 1000 requests."""
    requests = int(rps * 10)
    return Measurement(
        requests=requests, duration_us=10_000_000, bytes_read=0, p50_us=p99_us // 4, p75_us=0, p90_us=0, p99_us=p99_us,
        max_us=p99_us, mean_us=0.0, rps=rps, non2xx=non2xx, socket_errors=socket_errors, errors={}, text="",
        cpu_s={"container": requests * cpu_ms_per_1k / 1e6}, other_cpu_frac=0.25,
        cpu_by_role={role: requests * ms / 1e6 for role, ms in (by_role or {}).items()},
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


def test_like_is_judged_against_like_logs_on_logs_off_the_bare_proxy_and_many_connections() -> None:
    rounds = {
        "stack": [measurement(850, 1100, cpu_ms_per_1k=120)],
        "gunicorn-log": [measurement(1000, 1000)],
        "stack-nolog": [measurement(800, 3000, cpu_ms_per_1k=110)],
        "gunicorn": [measurement(1000, 1500)],
        "bare": [measurement(900, 2000, cpu_ms_per_1k=100)],
        "stack-wide": [measurement(500, 9000, socket_errors=1)],
        "gunicorn-log-wide": [measurement(400, 9000)],
    }
    assert [(name, round(value, 2), target, ok) for name, value, target, ok in ratios(report(rounds))] == [
        ("logs on: stack / gunicorn alone, req/s", 0.85, ">= 0.8", True),
        ("logs on: stack / gunicorn alone, p99", 1.1, "<= 1.2", True),
        ("logs off: stack / gunicorn alone, req/s", 0.8, ">= 0.85", False),
        ("logs off: stack / gunicorn alone, p99", 2.0, "", True),
        ("CPU per request, logs off: stack / bare proxy", 1.1, "<= 1.1", True),
        ("CPU per request: stack (access log on) / bare proxy", 1.2, "", True),
        ("logs off: bare proxy / gunicorn alone, req/s", 0.9, "", True),
        ("1,000 connections: stack / gunicorn alone, req/s (stack errors: 1)", 1.25, ">= 1.0, 0 errors", False),
    ]


def test_the_readme_section_has_a_row_per_configuration_the_cpu_by_process_and_the_stack_figures() -> None:
    roles = {"nginx": 30.0, "gunicorn_workers": 60.0, "pid1": 0.5, "log_path": 9.5}
    text = render_markdown(report({"stack": [measurement(31000, 7000, by_role=roles)], "nginx": [measurement(90000, 1000)]}))
    assert "| stack (this image, defaults: access log on) | 31,000 | 1.75 ms | 7.00 ms | 0 / 0 | 100.0 | 25% |" in text
    assert "| stack (this image, defaults: access log on) | 30.0 | 60.0 |  | 0.5 | 9.5 |  |" in text
    assert "| nginx alone (return 200) | 90,000 |" in text
    assert "other processes used 25%-25% of the CPUs" in text
    assert "| image size | 200 MB | base `python:3.13-slim` 150 MB + <= 40 MB | +50 MB, **missed** |" in text


def test_cpu_by_process_role() -> None:
    procs = {
        1: Proc(1, 0, 0, "/usr/local/bin/python3 /usr/local/bin/aiohttp-nginx start"),
        7: Proc(7, 1, 0, "/usr/local/bin/python3 -m gunicorn --config c.py"),
        9: Proc(9, 7, 0, "/usr/local/bin/python3 -m gunicorn --config c.py"),
        8: Proc(8, 1, 0, "nginx: master process /usr/sbin/nginx -c /tmp/nginx.conf"),
        10: Proc(10, 8, 0, "nginx: worker process"),
        11: Proc(11, 1, 0, "sh -c true"),
    }
    assert {pid: role_of(p, procs, 1) for pid, p in procs.items()} == {
        1: "pid1", 7: "gunicorn_master", 9: "gunicorn_workers", 8: "nginx", 10: "nginx", 11: "container_other",
    }  # fmt: skip
    # gunicorn alone: its master is the container's PID 1
    alone = Proc(1, 0, 0, "/usr/local/bin/python3 /usr/local/bin/gunicorn -k x app:app")
    assert role_of(alone, {1: alone}, 1) == "gunicorn_master"


def test_cpu_per_role_is_the_difference_of_processes_seen_at_both_ends_and_the_cgroup_keeps_the_rest() -> None:
    before = {1: ("pid1", 1_000_000_000), 9: ("gunicorn_workers", 0), 10: ("gunicorn_workers", 500_000_000), 12: ("nginx", 0)}
    after = {1: ("pid1", 1_100_000_000), 9: ("gunicorn_workers", 2_000_000_000), 10: ("gunicorn_workers", 1_500_000_000), 13: ("nginx", 9)}
    got = role_cpu_s(before, after, container_s=3.5, log_path_s=0.25)
    assert got == pytest.approx({"pid1": 0.1, "gunicorn_workers": 3.0, "container_other": 0.4, "log_path": 0.25})
    rounds = [measurement(1000, 1000, by_role={"nginx": 20.0, "log_path": 4.0}), measurement(1000, 1000, by_role={"nginx": 30.0})]
    assert summarize(rounds).cpu_ms_per_1k_by_role == pytest.approx({"nginx": 25.0, "log_path": 4.0})


def test_proc_stat_with_a_space_and_parenthesis_in_the_name() -> None:
    text = "42 (nginx: a) b) S 7 42 42 0 -1 4194560 1 0 0 0 120 30 0 0 20 0 1 0 100 0 0"
    assert parse_stat(text) == (7, 150)


RENDERED = """\
user www-data;
worker_processes 2;
pid /tmp/aiohttp-nginx/nginx.pid;
http {
    client_body_temp_path /tmp/aiohttp-nginx/nginx/body;
    proxy_temp_path /tmp/aiohttp-nginx/nginx/proxy;
    map $http_upgrade $x { default 0; }
    upstream app {
        server unix:/tmp/aiohttp-nginx/run/gunicorn.sock;
        keepalive 64;
    }
    server {
        listen 8080 reuseport;
        proxy_set_header X-Request-ID $request_id;
    }
}
"""


def test_the_bare_proxy_keeps_the_runtime_paths_and_drops_everything_else() -> None:
    conf = bare_nginx_conf(RENDERED, 18001)
    for line in (
        "user www-data;", "worker_processes 1;", "pid /tmp/aiohttp-nginx/nginx.pid;", "access_log off;",
        "client_body_temp_path /tmp/aiohttp-nginx/nginx/body;", "proxy_temp_path /tmp/aiohttp-nginx/nginx/proxy;",
        "server unix:/tmp/aiohttp-nginx/run/gunicorn.sock;", "keepalive 128;", "listen 18001 backlog=4096;",
        'proxy_set_header Connection "";', "proxy_pass http://app;",
    ):  # fmt: skip
        assert line in conf
    assert "map " not in conf and "X-Request-ID" not in conf and "reuseport" not in conf
    assert conf.count("proxy_set_header") == 1
    with pytest.raises(BenchError, match="unix-socket upstream"):
        bare_nginx_conf(RENDERED.replace("server unix:", "server 127.0.0.1:"), 1)


def test_gunicorn_alone_logs_like_nginx_only_when_asked() -> None:
    logged = gunicorn_target("img", 2, key="gunicorn-log", access_log=True)
    assert logged.command[-5:] == ["--access-logfile", "-", "--access-logformat", GUNICORN_ACCESS_FORMAT, "app:app"]
    assert logged.title == "gunicorn alone, access log to stdout"
    assert "--access-logfile" not in gunicorn_target("img", 2).command


def test_a_wide_row_loads_the_same_container_with_more_connections() -> None:
    base = Target("stack", "stack", "img", 1, container="abc")
    wide = wide_target(base, 1000)
    assert (wide.key, wide.container, wide.connections, base.connections) == ("stack-wide", "abc", 1000, None)


def test_the_command_line_defaults_keep_a_run_short_and_refuse_unknown_configurations(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse_args([])
    assert (args.duration, args.warmup, args.rounds, args.wide_connections, args.name) == (5, 2, 3, 1000, "latest")
    assert args.only == ["stack", "gunicorn-log", "stack-nolog", "gunicorn", "bare", "nginx"]
    for bad in (["--only", "stack,nope"], ["--name", "../x"]):
        with pytest.raises(SystemExit):
            parse_args(bad)
    assert "--name" in capsys.readouterr().err


def test_the_raw_report_is_json() -> None:
    data = json.loads(json.dumps(report({"stack": [measurement(1, 1)]}).to_json()))
    assert data["rounds"]["stack"][0]["rps"] == 1
    assert data["stack_extras"]["first_200_median_s"] == 0.6


def test_docker_stats_memory_units() -> None:
    assert [mib("80.5MiB"), mib("1GiB"), mib("512KiB")] == [80.5, 1024, 0.5]


def test_a_run_read_back_from_its_json_compares_with_another_process_by_process() -> None:
    before = report(
        {"stack": [measurement(500, 4000, cpu_ms_per_1k=120, by_role={"nginx": 40.0})], "gunicorn-log": [measurement(1000, 2000)]}
    )
    after = report(
        {"stack": [measurement(900, 2000, cpu_ms_per_1k=60, by_role={"nginx": 20.0})], "gunicorn-log": [measurement(1000, 2000)]}
    )
    again = Report.from_json(json.loads(json.dumps(before.to_json())))
    assert again.summary["stack"] == before.summary["stack"] and again.rounds["stack"][0] == before.rounds["stack"][0]
    text = render_comparison(again, after, "a6db948", "HEAD")
    assert "| logs on: stack / gunicorn alone, req/s | 0.50 | 0.90 | >= 0.8 met |" in text
    assert "| nginx (master + workers) | 40.0 | 20.0 | 0.50x |" in text
    assert "| **total** (container + log path) | 120.0 | 60.0 | 0.50x |" in text


def test_another_image_in_the_same_run_is_judged_against_the_same_baselines() -> None:
    run = report(
        {
            "stack": [measurement(900, 1000)],
            "gunicorn-log": [measurement(1000, 1000)],
            "stack-nolog": [measurement(900, 1000)],
            "gunicorn": [measurement(1000, 1000)],
            "also1": [measurement(500, 3000)],
            "also1-nolog": [measurement(700, 3000, cpu_ms_per_1k=200)],
            "stack-wide": [measurement(900, 1000)],
        }
    )
    run.titles = {"also1": "stack of `bench-base:python3.13`, defaults"}

    assert row_keys(run.summary) == ["stack", "gunicorn-log", "stack-nolog", "gunicorn", "also1", "also1-nolog", "stack-wide"]
    got = {name: (round(value, 2), ok) for name, value, _, ok in ratios(run)}
    assert got["logs on: stack of `bench-base:python3.13` / gunicorn alone, req/s"] == (0.5, False)
    assert got["logs off: stack of `bench-base:python3.13` / gunicorn alone, req/s"] == (0.7, False)


def test_the_readme_summary_states_the_judged_ratios_and_cpu_of_one_run() -> None:
    text = render_summary(report({"stack": [measurement(850, 1100, cpu_ms_per_1k=120)], "gunicorn-log": [measurement(1000, 1000)]}))
    assert "| logs on: stack / gunicorn alone, req/s | 0.85 | >= 0.8 | met |" in text
    assert "| CPU per 1,000 requests, stack (this image, defaults: access log on) | 120.0 ms |  |  |" in text
    assert "Command: `benchmarks/run.sh`" in text
