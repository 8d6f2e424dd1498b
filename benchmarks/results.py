"""The typed results of a run: one Measurement per wrk run, a Summary per configuration, the Report around them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


@dataclass
class Measurement:
    """One recorded wrk run against one configuration, and where the machine's CPU went meanwhile."""

    requests: int
    duration_us: int
    bytes_read: int
    p50_us: int
    p75_us: int
    p90_us: int
    p99_us: int
    max_us: int
    mean_us: float
    rps: float
    non2xx: int
    socket_errors: int  # connect + read + write + timeout
    errors: Dict[str, int]  # wrk's socket errors by kind
    text: str  # wrk's own report
    cpu_s: Dict[str, float] = field(default_factory=dict)  # container, dockerd, shim, wrk, host: CPU seconds in the run
    cpu_by_role: Dict[str, float] = field(default_factory=dict)  # CPU seconds by process role (measure.ROLES) in the run
    other_cpu_frac: Optional[float] = None  # share of the CPUs other processes used meanwhile
    attempts: int = 1


@dataclass
class Summary:
    """A configuration over the rounds: medians, and totals of the errors."""

    rps: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int
    rps_all: List[int]
    cpu_ms_per_1k: Optional[float] = None  # container + dockerd + shim CPU per 1000 requests: where the time goes
    log_path_ms_per_1k: Optional[float] = None  # dockerd + shim alone: the container's output
    other_load: Optional[float] = None
    cpu_ms_per_1k_by_role: Dict[str, float] = field(default_factory=dict)  # medians over the rounds, role by role
    other_load_all: List[float] = field(default_factory=list)  # share of the CPUs other processes used, round by round


@dataclass
class StackExtras:
    """The stack image beyond throughput: start-up, idle memory, size."""

    first_200_s: List[float]
    first_200_median_s: float
    idle_mib_samples: List[float]
    idle_mib: float
    base: str = ""
    image_bytes: int = 0
    base_bytes: int = 0


@dataclass
class Machine:
    nproc: int
    cpu: str
    kernel: str
    docker: str
    wrk: str
    loadavg_before: List[str]
    loadavg_after: List[str] = field(default_factory=list)


@dataclass
class Report:
    """Everything one run measured, and how (written as raw JSON, the README section and the chart)."""

    date: str
    command: str
    image: str
    image_id: str
    versions: Dict[str, str]
    machine: Machine
    workers: int
    rounds_count: int
    threads: int
    connections: int
    duration: float
    warmup: float
    args: Dict[str, Any]  # every option of the run, for the record
    summary: Dict[str, Summary]
    rounds: Dict[str, List[Measurement]]
    targets: List[Dict[str, Any]]
    seed_image_id: Optional[str] = None
    stack_extras: Optional[StackExtras] = None
    titles: Dict[str, str] = field(default_factory=dict)  # configuration key -> what it is
    nginx_alone_workers: str = ""

    def to_json(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> Report:
        """A report read back from its JSON (results/NAME.json), to compare runs."""
        d = dict(data)
        d["machine"] = Machine(**d["machine"])
        d["summary"] = {k: Summary(**v) for k, v in d["summary"].items()}
        d["rounds"] = {k: [Measurement(**m) for m in v] for k, v in d["rounds"].items()}
        d["stack_extras"] = StackExtras(**d["stack_extras"]) if d.get("stack_extras") else None
        return cls(**d)
