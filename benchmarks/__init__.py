"""Benchmarks of the aiohttp-nginx image, like for like: the stack against gunicorn alone with and without access
logs, against the same workers behind a minimal nginx (the bare proxy) and nginx alone; CPU by process.

Run from the repository: ``benchmarks/run.sh [--help]`` (or ``python -m benchmarks``); tuning experiments:
``python -m benchmarks.tune --list``. One module per concern:

- ``containers``: the configurations as containers (on the test kit's harness: pytest_aiohttp_nginx), the images
- ``load``: the load tool (wrk) and its options
- ``measure``: one measurement, rounds of them, start-up time and idle memory, the machine
- ``results``: the typed results (Measurement, Summary, StackExtras, Machine, Report)
- ``report``: the report written out (raw JSON, the README section, the chart, the terminal)
- ``cli``: the command; ``tune``: the tuning experiments; ``compare``: two runs side by side (before / after)
"""
