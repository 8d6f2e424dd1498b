"""Keep the generated sections of README.md and the documentation site (docs/*.md) in step with their single sources.

    python3 scripts/readme.py          rewrite the sections
    python3 scripts/readme.py --check  exit 1 if any section is stale

Sections are delimited by `<!-- generated:NAME -->` ... `<!-- end:NAME -->`: `variables` (every variable, from
aiohttp_nginx_base/settings.py), `variables-common` (the README's short table of the most used ones), `tags`
(docker-images/versions.json), `benchmarks`, `benchmarks-summary` and `compression` (benchmarks/results/), and on the site `security` and
`changelog` (SECURITY.md, CHANGELOG.md, whose links to other files of the repository lose their link there).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
# the variables a newcomer sets first, in this order: the README's short table (the docs site has them all)
COMMON = (
    "APP_MODULE",
    "LISTEN_PORT",
    "NGINX_MAX_UPLOAD",
    "WEB_CONCURRENCY",
    "TIMEOUT",
    "FORWARDED_ALLOW_IPS",
    "ALLOWED_HOSTS",
    "STATIC_PATH",
    "ACCESS_LOG_FORMAT",
    "LOG_LEVEL",
    "SHUTDOWN_DELAY",
)
# links written for the README or the repository, as they read on the site; any other link to a file of the
# repository (the site holds only docs/) keeps its text and loses the link
SITE_LINKS = {
    "#your-app": "app.md#your-app",
    "benchmarks/results/latest.png": "img/benchmarks.png",
    "CHANGELOG.md": "changelog.md",
    "SECURITY.md": "security.md",
}
LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")


def site_links(text: str) -> str:
    def relink(found: re.Match[str]) -> str:
        bang, label, target = found.groups()
        if target in SITE_LINKS:
            return f"{bang}[{label}]({SITE_LINKS[target]})"
        if target.startswith("docs/"):
            return f"{bang}[{label}]({target[len('docs/') :]})"
        if re.match(r"[a-z]+:", target) or (target.startswith("#") and not bang):
            return found.group(0)
        return label

    return LINK.sub(relink, text)


def variables() -> str:
    sys.path.insert(0, str(ROOT))
    from aiohttp_nginx_base.settings import markdown_table

    return markdown_table()


def variables_common() -> str:
    sys.path.insert(0, str(ROOT))
    from aiohttp_nginx_base.settings import BY_NAME

    lines = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for name in COMMON:
        var = BY_NAME[name]
        default = "(unset)" if var.default is None else f"`{var.default}`"
        lines.append(f"| `{var.name}` | {default} | {var.help} |")
    return "\n".join(lines)


def tags() -> str:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "matrix.py"), "readme"], check=True, stdout=subprocess.PIPE, text=True
    ).stdout.strip()


def benchmarks() -> str:
    latest = ROOT / "benchmarks" / "results" / "latest.md"
    return latest.read_text().strip() if latest.exists() else "_No benchmark run recorded yet: run `benchmarks/run.sh`._"


def benchmarks_summary() -> str:
    """The README's few lines on performance: the judged ratios of the last run (benchmarks/results/latest-summary.md)."""
    summary = ROOT / "benchmarks" / "results" / "latest-summary.md"
    return summary.read_text().strip() if summary.exists() else "_No benchmark run recorded yet: run `benchmarks/run.sh`._"


def repository_file(name: str) -> Callable[[], str]:
    """A file of the repository without its title line: SECURITY.md and CHANGELOG.md on the site."""

    def make() -> str:
        lines = (ROOT / name).read_text().strip().splitlines()
        return "\n".join(lines[1:] if lines and lines[0].startswith("# ") else lines).strip()

    return make


def compression() -> str:
    results = ROOT / "benchmarks" / "results" / "compression.md"
    return results.read_text().strip() if results.exists() else "_No compression run recorded yet: run `python -m benchmarks.compression`._"


SECTIONS: Dict[str, Callable[[], str]] = {
    "variables": variables,
    "variables-common": variables_common,
    "tags": tags,
    "benchmarks": benchmarks,
    "benchmarks-summary": benchmarks_summary,
    "compression": compression,
    "security": repository_file("SECURITY.md"),
    "changelog": repository_file("CHANGELOG.md"),
}


def render(text: str, site: bool = False) -> str:
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- generated:{name} -->\n)(?:.*?\n)?(<!-- end:{name} -->)", re.S)
        if pattern.search(text):
            body = make()
            if site:
                body = site_links(body)
            found = pattern.search(text)
            assert found is not None
            text = text[: found.start()] + found.group(1) + body + "\n" + found.group(2) + text[found.end() :]
    return text


def targets() -> List[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def main() -> int:
    stale = []
    for path in targets():
        current = path.read_text()
        wanted = render(current, site=path.parent == DOCS)
        if wanted == current:
            continue
        if "--check" in sys.argv[1:]:
            stale.append(str(path.relative_to(ROOT)))
        else:
            path.write_text(wanted)
    if stale:
        print(f"{', '.join(stale)}: generated sections are stale; run python3 scripts/readme.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
