"""The limits a student process runs under, and the session's fixed policies."""

from __future__ import annotations

from dataclasses import dataclass

MAX_RESTARTS = 30           # student process restarts per session before calls fail at once
# A function that hit the call time limit this often is not called again in the session: an
# infinite loop would otherwise cost every one of its tests a full call_timeout. The tests run in
# a fixed order, so which calls are skipped is the same on every run.
MAX_TIMEOUTS_PER_FUNCTION = 2
ZYGOTE_START_TIMEOUT = 60.0
CONTROL_TIMEOUT = 20.0


ISOLATIONS = ("bubblewrap", "none", "auto")


@dataclass
class Limits:
    # How student code is isolated (docs/sandbox.md), chosen by whoever starts grading:
    # "bubblewrap" namespaces (where bwrap cannot start, the sandbox refuses to start);
    # "none" resource limits, timeouts and an unprivileged uid only (the machine or container is
    # the boundary); "auto" bubblewrap where it starts, else "none" (for throwaway containers).
    isolation: str = "bubblewrap"
    cell_timeout: float = 30.0      # wall seconds per notebook cell
    call_timeout: float = 5.0       # wall seconds per function call (ours take milliseconds)
    total_timeout: float = 120.0    # wall seconds per submission, all cells and calls
    cpu_seconds: int = 120          # RLIMIT_CPU of the student process
    memory_mb: int = 1024           # address-space allowance above the pre-imported zygote
    max_processes: int = 64         # RLIMIT_NPROC
    max_output_bytes: int = 65536   # stdout/stderr kept per cell (the rest discarded)
    max_file_bytes: int = 16 << 20  # RLIMIT_FSIZE and the sandbox tmpfs size
    max_message_bytes: int = 64 << 20  # largest reply accepted from the student

