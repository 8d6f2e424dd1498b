"""Keep README.md's generated sections in step with their single sources.

    python3 scripts/readme.py          rewrite the sections
    python3 scripts/readme.py --check  exit 1 if any section is stale

Sections are delimited by `<!-- generated:NAME -->` ... `<!-- end:NAME -->`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def variables() -> str:
    sys.path.insert(0, str(ROOT))
    from aiohttp_nginx_base.settings import markdown_table

    return markdown_table()


def tags() -> str:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "matrix.py"), "readme"], check=True, stdout=subprocess.PIPE, text=True
    ).stdout.strip()


def benchmarks() -> str:
    latest = ROOT / "benchmarks" / "results" / "latest.md"
    return latest.read_text().strip() if latest.exists() else "_No benchmark run recorded yet: run `benchmarks/run.sh`._"


SECTIONS: Dict[str, Callable[[], str]] = {"variables": variables, "tags": tags, "benchmarks": benchmarks}


def render(text: str) -> str:
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- generated:{name} -->\n)(?:.*?\n)?(<!-- end:{name} -->)", re.S)
        if pattern.search(text):
            body = make()
            text = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text)
    return text


def main() -> int:
    current = README.read_text()
    wanted = render(current)
    if "--check" in sys.argv[1:]:
        if wanted != current:
            print("README.md: generated sections are stale; run python3 scripts/readme.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
