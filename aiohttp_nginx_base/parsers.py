"""Value parsers for the environment variables: (name, raw) -> value; each says what it allows.

A parser failing raises SettingsError, which the CLI reports as one line (exit 2).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any, List, Optional, Tuple, Union

from . import appspec


class SettingsError(ValueError):
    """Bad input: reported as one line, exit status 2, never a traceback."""

    def __init__(self, name: str, value: str, allowed: str) -> None:
        self.name, self.value, self.allowed = name, value, allowed
        super().__init__(f"{name}={value!r} is not valid: {allowed}")


class Parser:
    allowed = ""
    blank_ok = False  # an empty value is a value (e.g. an empty list), not a mistake

    def __call__(self, name: str, raw: str) -> Any:
        raise NotImplementedError

    def fail(self, name: str, raw: str) -> SettingsError:
        return SettingsError(name, raw, self.allowed)


class Int(Parser):
    def __init__(self, low: int = 0, high: Optional[int] = None) -> None:
        self.low, self.high = low, high
        top = f" and {high}" if high is not None else ""
        self.allowed = f"an integer between {low}{top}" if top else f"an integer >= {low}"

    def __call__(self, name: str, raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise self.fail(name, raw) from None
        if value < self.low or (self.high is not None and value > self.high):
            raise self.fail(name, raw)
        return value


class Float(Parser):
    allowed = "a number > 0 and < 1000000 (e.g. 1 or 0.5)"

    def __call__(self, name: str, raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise self.fail(name, raw) from None
        if not (0 < value < 1e6):
            raise self.fail(name, raw)
        return value


class IntOrAuto(Int):
    def __init__(self, low: int = 1, high: Optional[int] = None) -> None:
        super().__init__(low, high)
        self.allowed = f"'auto' or {self.allowed}"

    def __call__(self, name: str, raw: str) -> Union[int, str]:  # type: ignore[override]
        if raw.strip() == "auto":
            return "auto"
        return super().__call__(name, raw)


class Size(Parser):
    """nginx size syntax: 0 (unlimited), 512, 10k, 100m, 1g."""

    allowed = "0 (unlimited) or a size such as 512, 10k, 100m, 1g"
    _units = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}

    def __call__(self, name: str, raw: str) -> str:
        match = re.fullmatch(r"([0-9]{1,12})([kKmMgG]?)", raw.strip())
        if not match or int(match[1]) * self._units[match[2].lower()] > 1024**4:
            raise self.fail(name, raw)
        return match[1] + match[2].lower()


class Bool(Parser):
    allowed = "one of 1, 0, true, false, yes, no, on, off"

    def __call__(self, name: str, raw: str) -> bool:
        value = raw.strip().lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise self.fail(name, raw)


class Choice(Parser):
    def __init__(self, *choices: str) -> None:
        self.choices = choices
        self.allowed = "one of " + ", ".join(choices)

    def __call__(self, name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in self.choices:
            raise self.fail(name, raw)
        return value


class UrlPath(Parser):
    allowed = "an absolute URL path such as /static, of letters, digits and ._~!&()*+,=:@%/-"

    def __call__(self, name: str, raw: str) -> str:
        value = raw.strip()
        if not re.fullmatch(r"/[A-Za-z0-9._~!&()*+,=:@%/-]*", value):
            raise self.fail(name, raw)
        return value.rstrip("/") or "/"


class AbsPath(Parser):
    allowed = "an absolute file system path without spaces, control characters, quotes, braces, ';', '$' or '%'"

    def __call__(self, name: str, raw: str) -> Path:
        value = raw.strip()
        if not value.startswith("/") or re.search(r"[\s\x00-\x1f\x7f'\"{};$%\\]", value):
            raise self.fail(name, raw)
        return Path(value)


class LogTarget(Parser):
    allowed = "'-' (the container's output), 'off', or an absolute file path"

    def __call__(self, name: str, raw: str) -> Optional[str]:
        value = raw.strip()
        if value.lower() in ("off", "none", "false", "0"):
            return None
        if value == "-":
            return "-"
        return str(AbsPath()(name, value)) if value.startswith("/") else _raise(self.fail(name, raw))


class AppSpec(Parser):
    allowed = "'module:variable' or 'module:factory(literal args)', e.g. app:app, pkg.web:create_app or app:create_app('prod')"

    def __call__(self, name: str, raw: str) -> str:
        try:
            appspec.parse(raw)
        except ValueError:
            raise self.fail(name, raw) from None
        return raw.strip()


class AppVariable(Parser):
    allowed = "a variable name or a factory call with literal arguments, e.g. app, create_app or create_app('prod')"

    def __call__(self, name: str, raw: str) -> str:
        try:
            appspec.parse(f"app:{raw}")
        except ValueError:
            raise self.fail(name, raw) from None
        return raw.strip()


class Identifier(Parser):
    def __init__(self, dotted: bool) -> None:
        self.dotted = dotted
        self.allowed = "a Python module name such as app or pkg.main" if dotted else "a Python identifier"

    def __call__(self, name: str, raw: str) -> str:
        ident = r"[A-Za-z_][A-Za-z0-9_]*"
        pattern = rf"{ident}(\.{ident})*" if self.dotted else ident
        if not re.fullmatch(pattern, raw.strip()):
            raise self.fail(name, raw)
        return raw.strip()


class DottedClass(Parser):
    allowed = "a dotted path to a gunicorn worker class, e.g. aiohttp.GunicornWebWorker"

    def __call__(self, name: str, raw: str) -> str:
        value = raw.strip()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+", value):
            raise self.fail(name, raw)
        return value


class UserName(Parser):
    allowed = "the name of an existing unprivileged user (nginx's workers never run as root)"

    def __call__(self, name: str, raw: str) -> str:
        value = raw.strip()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}", value):
            raise self.fail(name, raw)
        return value


class HostList(Parser):
    """ALLOWED_HOSTS: host names and `*.example.com` patterns, as nginx's `hostnames` map reads them."""

    allowed = "comma-separated host names or *.example.com patterns (letters, digits, '-', '.'), e.g. example.com,*.example.com"
    _label = r"(?!-)[a-z0-9-]{1,63}(?<!-)"

    def __call__(self, name: str, raw: str) -> Tuple[str, ...]:
        names = [part.strip().lower() for part in raw.split(",")]
        pattern = rf"(\*\.)?{self._label}(\.{self._label})*\.?"
        if not names or any(not re.fullmatch(pattern, n) or len(n) > 253 for n in names):
            raise self.fail(name, raw)
        return tuple(dict.fromkeys(n.rstrip(".") for n in names))


class Text(Parser):
    allowed = "any text"

    def __call__(self, name: str, raw: str) -> str:
        return raw


class AddressList(Parser):
    """gunicorn's and uvicorn's FORWARDED_ALLOW_IPS: addresses and networks, comma-separated, or `*`.

    Networks are strict, as gunicorn's validator is (10.0.0.1/8 is a mistake, 10.0.0.0/8 is meant);
    the value is normalised to networks, `*` to every IPv4 and IPv6 address.
    """

    allowed = "comma-separated IP addresses or CIDR networks (e.g. 10.0.0.0/8,192.168.1.7), or *"
    blank_ok = True
    EVERYWHERE = ("0.0.0.0/0", "::/0")

    def __call__(self, name: str, raw: str) -> Tuple[str, ...]:
        entries = [entry.strip() for entry in raw.split(",") if entry.strip()]
        if "*" in entries:
            return self.EVERYWHERE
        networks: List[str] = []
        for entry in entries:
            try:
                network = str(ipaddress.ip_network(entry))
            except ValueError as exc:
                raise SettingsError(name, raw, f"{self.allowed} ({exc})") from None
            if network not in networks:
                networks.append(network)
        return tuple(networks)


def _raise(error: Exception) -> Any:
    raise error
