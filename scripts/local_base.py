#!/usr/bin/env python3
"""Build local stand-ins for the official python:X.Y-slim-<suite> images.

For machines that reach a Debian mirror but no container registry: the rootfs
comes from debootstrap, CPython from the host's pyenv install (or, when pyenv
lacks the version, from the suite's own python3). Run it via
scripts/local-base.sh; docs/offline-build.md explains the workflow.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
VERSIONS = HERE.parent / "docker-images" / "versions.json"
MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
SECURITY = os.environ.get("DEBIAN_SECURITY_MIRROR", "http://deb.debian.org/debian-security")
CACHE = Path(os.environ.get("LOCAL_BASE_CACHE", "/var/cache/aiohttp-nginx-local-base"))
LABEL = "org.aiohttp-nginx-base.stand-in"
CA_DEST = "/usr/local/share/aiohttp-nginx-local/ca-bundle.crt"
# Where a Python neither pyenv nor the image's own suite has comes from: Debian's
# development suite, which carries the newest CPython first (python3.14 in sid).
FALLBACK_SUITE = "sid"
# sid has no -updates or -security suites, and a mirror snapshot of it may serve
# a Release file past its Valid-Until (a live sid one is valid for a week only).
ROLLING = {"sid", "unstable"}
# What CPython itself installs in bin/ (pip comes later, from ensurepip); anything
# else there belongs to packages installed into the host's pyenv.
CPYTHON_BIN = re.compile(r"^(python|pydoc|idle|2to3)(3|-?3\.\d+)?(-config)?$")

SLIM_EXCLUDE = ("doc", "man", "info", "groff", "linda", "lintian/overrides", "locale")
# What the official debian images configure so apt layers leave no cache behind.
APT_CONF = {
    "docker-clean": (
        'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb'
        ' /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\n'
        'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb'
        ' /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\n'
        'Dir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n'
    ),
    "docker-gzip-indexes": 'Acquire::GzipIndexes "true";\n',
    "docker-no-languages": 'Acquire::Languages "none";\n',
    "docker-autoremove-suggests": 'Apt::AutoRemove::SuggestsImportant "false";\n',
}


def say(msg):
    print(f"local-base: {msg}", flush=True)


def die(msg, code=1):
    print(f"local-base: error: {msg}", file=sys.stderr)
    sys.exit(code)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def output(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def sha256(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
        h.update(b"\0")
    return h.hexdigest()


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def label_of(ref, key):
    r = subprocess.run(["docker", "image", "inspect", "-f", f'{{{{ index .Config.Labels "{key}" }}}}', ref],
                       capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def rootfs_tarball(suite):
    """debootstrap once per suite+mirror; the tarball is the cache."""
    key = sha256(MIRROR, SECURITY)[:8]
    tar = CACHE / f"{suite}-{key}-rootfs.tar"
    if tar.exists():
        say(f"{suite}: reusing cached rootfs {tar}")
        return tar
    root = CACHE / f"{suite}-rootfs"
    shutil.rmtree(root, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    say(f"{suite}: debootstrap --variant=minbase from {MIRROR}")
    run(["debootstrap", "--variant=minbase", suite, str(root), MIRROR], stdout=subprocess.DEVNULL)
    keyring = next(k for k in ("debian-archive-keyring.pgp", "debian-archive-keyring.gpg")
                   if (root / "usr/share/keyrings" / k).exists())
    (root / "etc/apt/sources.list").unlink(missing_ok=True)
    stanza = "Types: deb\nURIs: {}\nSuites: {}\nComponents: main\nSigned-By: /usr/share/keyrings/" + keyring + "\n"
    if suite in ROLLING:
        (root / "etc/apt/sources.list.d/debian.sources").write_text(stanza.format(MIRROR, suite))
        (root / "etc/apt/apt.conf.d/docker-rolling-valid-until").write_text('Acquire::Check-Valid-Until "false";\n')
    else:
        (root / "etc/apt/sources.list.d/debian.sources").write_text(
            stanza.format(MIRROR, f"{suite} {suite}-updates") + "\n" + stanza.format(SECURITY, f"{suite}-security"))
    # Like the official -slim images: no docs/man/locales now, nor from later package installs.
    (root / "etc/dpkg/dpkg.cfg.d/docker-slim").write_text(
        "".join(f"path-exclude /usr/share/{d}/*\n" for d in SLIM_EXCLUDE)
        + "path-include /usr/share/doc/*/copyright\n")
    for d in SLIM_EXCLUDE:
        for p in (root / "usr/share" / d).glob("*"):
            if p.is_dir() and not p.is_symlink():
                keep = (p / "copyright").read_bytes() if (p / "copyright").is_file() else None
                shutil.rmtree(p)
                if d == "doc" and keep is not None:
                    p.mkdir()
                    (p / "copyright").write_bytes(keep)
            else:
                p.unlink()
    for pattern in ("var/lib/apt/lists/*", "var/cache/apt/*.bin", "var/cache/apt/archives/*.deb", "var/log/*.log"):
        for p in root.glob(pattern):
            if p.is_file():
                p.unlink()
    # docker provides /dev, /proc, /sys and resolv.conf at run time.
    partial = tar.with_suffix(".partial")
    run(["tar", "-C", str(root), "--numeric-owner", "--exclude=./dev/*", "--exclude=./proc/*",
         "--exclude=./sys/*", "--exclude=./etc/resolv.conf", "-cf", str(partial), "."])
    partial.rename(tar)
    shutil.rmtree(root)
    return tar


def import_base(suite):
    tar = rootfs_tarball(suite)
    ref = f"aiohttp-nginx-local/debian:{suite}"
    digest = file_sha256(tar)
    if label_of(ref, LABEL + ".rootfs") == digest:
        say(f"{suite}: {ref} already imported")
        return ref
    run(["docker", "import",
         "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
         "--change", 'CMD ["bash"]',
         "--change", f"LABEL {LABEL}.rootfs={digest}",
         str(tar), ref], stdout=subprocess.DEVNULL)
    say(f"{suite}: imported {ref}")
    return ref


def pyenv_prefix(xy):
    try:
        r = subprocess.run(["pyenv", "prefix", xy], capture_output=True, text=True)
    except FileNotFoundError:
        return None
    prefix = Path(r.stdout.strip().split(":")[0]) if r.returncode == 0 and r.stdout.strip() else None
    if prefix and prefix.name.startswith(xy + ".") and (prefix / "bin" / f"python{xy}").exists():
        return prefix
    return None


def runtime_packages(prefix, xy):
    """Host (Debian) packages owning the shared libraries this CPython links to."""
    elves = [prefix / "bin" / f"python{xy}", *prefix.glob("lib/libpython3*.so*"),
             *(p for p in prefix.glob(f"lib/python{xy}/lib-dynload/*.so") if "tkinter" not in p.name)]
    libs = set()
    for elf in elves:
        for m in re.finditer(r"=> (/\S+)", output(["ldd", str(elf)])):
            if not m.group(1).startswith(str(prefix)):
                libs.add(m.group(1))
    pkgs = set()
    for lib in sorted(libs):
        # merged-/usr: dpkg knows only the path the package shipped.
        alt = lib[4:] if lib.startswith("/usr/") else "/usr" + lib
        r = subprocess.run(["dpkg", "-S", lib], capture_output=True, text=True)
        if r.returncode:
            r = subprocess.run(["dpkg", "-S", alt], capture_output=True, text=True)
        if r.returncode:
            die(f"{lib} (needed by {prefix}) belongs to no Debian package")
        pkgs.add(r.stdout.split(":")[0])
    return sorted(pkgs)


def stage_cpython(prefix, xy, dest):
    """Copy the pyenv install to dest (future /usr/local) minus host-only content."""
    def ignore(d, names):
        skip = {n for n in names if n in ("test", "tests", "idle_test", "__pycache__")
                or n.endswith((".pyc", ".pyo", "-gdb.py")) or re.match(r"libpython.*\.a$", n)}
        if Path(d).name == "site-packages" and Path(d).parent.name == f"python{xy}":
            skip |= set(names) - {"README.txt"}
        return skip

    for sub in ("bin", "include", "lib"):
        shutil.copytree(prefix / sub, dest / sub, symlinks=True, ignore=ignore)
    for p in list((dest / "bin").iterdir()):
        if CPYTHON_BIN.match(p.name):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()
    # Build-time paths (sysconfigdata, Makefile, *-config, *.pc, shebangs) name the pyenv prefix.
    old, new = str(prefix).encode(), b"/usr/local"
    for p in dest.rglob("*"):
        if p.is_symlink() or not p.is_file():
            continue
        data = p.read_bytes()
        if data.startswith(b"\x7fELF"):
            # Object files (config-*/python.o) have no dynamic section; patchelf refuses them.
            r = subprocess.run(["patchelf", "--print-rpath", str(p)], capture_output=True, text=True)
            if r.returncode == 0 and str(prefix) in r.stdout:
                if p.parent.name == "bin":
                    run(["patchelf", "--set-rpath", "$ORIGIN/../lib", str(p)])
                else:
                    run(["patchelf", "--remove-rpath", str(p)])
        elif old in data and b"\0" not in data:
            p.write_bytes(data.replace(old, new))


def debian_python(base):
    """The CPython version the suite's python3 brings: its pythonX.Y package's, not the python3 metapackage's."""
    out = output(["docker", "run", "--rm", base, "sh", "-c",
                  "apt-get update -qq && apt-cache show --no-all-versions python3"])
    m = re.search(r"^Depends:.*\b(python3\.\d+) \(", out, re.M)
    if m:
        out = output(["docker", "run", "--rm", base, "sh", "-c",
                      f"apt-get update -qq && apt-cache show --no-all-versions {m.group(1)}"])
    m = re.search(r"^Version: (\d+\.\d+\.\d+)", out, re.M)
    return m.group(1) if m else "unknown"


def dockerfile(base, xy, suite, source, full, fp, pkgs, ca, from_pyenv):
    apt_install = ("apt-get install -y --no-install-recommends ca-certificates netbase tzdata"
                   ' $pkgs; rm -rf /var/lib/apt/lists/*')
    lines = [
        f"FROM {base}",
        "COPY apt.conf.d/ /etc/apt/apt.conf.d/",
        # Stops daemons (nginx, ...) from being started by package scripts during builds.
        "RUN printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d",
        "ENV PATH=/usr/local/bin:$PATH LANG=C.UTF-8",
        f"ENV PYTHON_VERSION={full}",
    ]
    if from_pyenv:
        # Names come from the bookworm host; trixie renamed many libs to <name>t64 (64-bit time_t).
        lines += [
            "RUN set -eu; export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; pkgs=;"
            f" for p in {' '.join(pkgs)}; do"
            ' if apt-cache show "${p}t64" >/dev/null 2>&1; then p="${p}t64"; fi; pkgs="$pkgs $p"; done; '
            + apt_install,
            "COPY usr/local/ /usr/local/",
            "RUN set -eu; ldconfig; python3 -m ensurepip --default-pip;"
            " cd /usr/local/bin; [ -e pip ] || ln -s pip3 pip; python --version; pip --version;"
            " find /usr/local -depth \\( -name __pycache__ -o -name '*.pyc' \\) -exec rm -rf '{}' +",
        ]
    else:
        lines += [
            "RUN set -eu; export DEBIAN_FRONTEND=noninteractive; apt-get update -qq;"
            " pkgs='python3 python3-venv python3-pip'; "
            + apt_install
            + "; rm -f /usr/lib/python3*/EXTERNALLY-MANAGED; cd /usr/local/bin;"
            " ln -s /usr/bin/python3 python3; ln -s python3 python; ln -s /usr/bin/pip3 pip3; ln -s pip3 pip;"
            " python --version; pip --version",
        ]
    if ca:
        lines += [f"COPY ca-bundle.crt {CA_DEST}", f"ENV PIP_CERT={CA_DEST}"]
    lines += [
        f'LABEL {LABEL}="{fp}" org.opencontainers.image.description="local stand-in for'
        f' python:{xy}-slim-{suite}' + (f' built from Debian {source}' if source != suite else '') + ', not the official image"',
        'CMD ["python3"]',
    ]
    return "\n".join(lines) + "\n"


def build(xy, suite):
    tag = f"python:{xy}-slim-{suite}"
    prefix = pyenv_prefix(xy)
    ca = os.environ.get("PIP_CERT")
    script = b"".join(p.read_bytes() for p in (HERE / "local_base.py", HERE / "local-base.sh"))
    full = prefix.name if prefix else "debian-python3"
    fp = sha256(suite, MIRROR, SECURITY, full, script, file_sha256(ca) if ca else "")[:16]
    if label_of(tag, LABEL) == fp:
        say(f"{tag}: up to date (stand-in {fp}), nothing to do")
        return tag
    base = import_base(suite)
    with tempfile.TemporaryDirectory(prefix="local-base-") as ctx:
        ctx = Path(ctx)
        (ctx / "apt.conf.d").mkdir()
        for name, text in APT_CONF.items():
            (ctx / "apt.conf.d" / name).write_text(text)
        if ca:
            shutil.copyfile(ca, ctx / "ca-bundle.crt")
        pkgs = []
        source = suite
        if prefix:
            say(f"{tag}: using pyenv CPython {full} from {prefix}")
            pkgs = runtime_packages(prefix, xy)
            stage_cpython(prefix, xy, ctx / "usr" / "local")
        else:
            deb = debian_python(base)
            source = suite
            if not deb.startswith(xy + ".") and suite != FALLBACK_SUITE:
                say(f"{tag}: no pyenv {xy} and {suite}'s python3 is {deb}; trying Debian {FALLBACK_SUITE}")
                source, tried = FALLBACK_SUITE, deb
                base = import_base(source)
                deb = debian_python(base)
                if not deb.startswith(xy + "."):
                    die(f"Python {xy}: no pyenv build, {suite}'s python3 is {tried} and {source}'s is {deb}; cannot make {tag}")
            elif not deb.startswith(xy + "."):
                die(f"Python {xy}: no pyenv build and {suite}'s python3 is {deb}; cannot make {tag}")
            say(f"{tag}: no pyenv {xy}, falling back to Debian {source}'s python3 {deb}")
            full = deb
        (ctx / "Dockerfile").write_text(dockerfile(base, xy, suite, source, full, fp, pkgs, ca, bool(prefix)))
        r = subprocess.run(["docker", "build", "-t", tag, str(ctx)], capture_output=True, text=True)
        if r.returncode:
            sys.stderr.write(r.stdout + r.stderr)
            die(f"docker build of {tag} failed")
    say(f"{tag}: built (stand-in {fp})")
    return tag


def main(argv):
    if not argv:
        die("usage: scripts/local-base.sh X.Y [X.Y ...]", 2)
    pythons = json.loads(VERSIONS.read_text())["pythons"]
    for xy in argv:
        if xy not in pythons:
            die(f"unknown Python version {xy!r} (not in {VERSIONS.relative_to(HERE.parent)})", 2)
    for xy in argv:
        tag = build(xy, pythons[xy]["debian"])
        run(["docker", "run", "--rm", tag, "python", "-c",
             "import ssl, sqlite3, ctypes, zlib, bz2, lzma, uuid, readline, decimal, json, asyncio, sys;"
             " print(sys.version.split()[0], ssl.OPENSSL_VERSION, 'sqlite', sqlite3.sqlite_version)"])


if __name__ == "__main__":
    main(sys.argv[1:])
