"""Differential probing: drop the mutants that behave exactly like the function they came from.

The original function and the mutant are each called on the same probes: `probe(rng, fns)` from
the course's audit/probes.py builds (args, kwargs) from a numpy Generator, and is called afresh
for each side with a Generator of the same seed, so both get equal inputs (a `rng=` argument in
them included). Outputs are compared exactly (types, dtypes, shapes, every value; NaN equals
NaN), and so are the arguments after the call (an in-place edit is behaviour too) and the type of
any exception raised. Equal on every probe: equivalent, screened out. Different on one: kept,
with that probe as evidence for the report.

This is trusted course code (the reference, the alternatives and their mutants), run in worker
processes of this machine, not in the sandbox; each mutant has a wall-clock budget (SIGALRM), so
an infinite loop costs its budget and counts as different.
"""

from __future__ import annotations

import contextlib
import signal
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import numpy as np

PROBES = 40           # probes per mutant (all of them only for the mutants that never differ)
BUDGET = 10.0         # wall seconds per mutant, for all of its probes


@dataclass(frozen=True)
class Verdict:
    equivalent: bool
    probe: str        # how the first differing probe showed it ("" when equivalent)


class _Timeout(Exception):
    pass


# --------------------------------------------------------------------------- comparing

def same(a, b) -> bool:
    """Exactly the same behaviour: same types, dtypes, shapes and values (NaN == NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype.kind in "fc":
            return bool(np.array_equal(a, b, equal_nan=True))
        if a.dtype.kind == "O":
            return all(same(x, y) for x, y in zip(a.ravel(), b.ravel()))
        return bool(np.array_equal(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, (float, np.floating, complex, np.complexfloating)):
        return bool(a == b or (a != a and b != b))
    if isinstance(a, np.random.Generator):
        return a.bit_generator.state == b.bit_generator.state
    try:
        return bool(a == b)
    except Exception:
        return repr(a) == repr(b)


def short(value, limit: int = 300) -> str:
    """A one-line picture of a value for the report."""
    with np.printoptions(threshold=12, edgeitems=2, precision=6, linewidth=10_000):
        if isinstance(value, np.ndarray):
            text = f"array{value.shape} {value.dtype} {np.array2string(value, separator=', ')}"
        elif isinstance(value, dict):
            text = "{" + ", ".join(f"{k!r}: {short(v, 160)}" for k, v in value.items()) + "}"
        elif isinstance(value, (list, tuple)):
            inner = ", ".join(short(v, 80) for v in value)
            text = f"[{inner}]" if isinstance(value, list) else f"({inner})"
        elif isinstance(value, np.random.Generator):
            text = "Generator(seeded)"
        else:
            text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


# --------------------------------------------------------------------------- calling

@contextlib.contextmanager
def _seeded_default_rng(seed: int):
    """np.random.default_rng() without a seed made deterministic (seeded from `seed`) for the
    call, so a function's own unseeded Generator draws the same numbers for both sides."""
    original = np.random.default_rng

    def default_rng(s=None):
        return original(seed if s is None else s)

    np.random.default_rng = default_rng
    try:
        yield
    finally:
        np.random.default_rng = original


def _call(fn: Callable, args, kwargs, seed: int = 0):
    """('ok', result, args after) or ('raises', exception type name, args after)."""
    with np.errstate(all="ignore"), warnings.catch_warnings(), _seeded_default_rng(seed + 10**6):
        warnings.simplefilter("ignore")
        try:
            return ("ok", fn(*args, **kwargs), (args, kwargs))
        except _Timeout:
            raise
        except Exception as exc:         # noqa: BLE001 - the exception type is the behaviour
            return ("raises", type(exc).__name__, (args, kwargs))


def _outcome_text(outcome) -> str:
    kind, value, _ = outcome
    return f"raises {value}" if kind == "raises" else short(value)


def probe_pair(original: Callable, mutant: Callable, probe: Callable, fns, *, probes: int = PROBES,
               seed: int = 0) -> Verdict:
    """Call both on `probes` seeded inputs; the first difference, or equivalent."""
    for i in range(probes):
        s = seed + i
        args, kwargs = probe(np.random.default_rng(s), fns)
        shown = ", ".join([short(a, 600) for a in args] + [f"{k}={short(v, 100)}" for k, v in kwargs.items()])
        a = _call(original, args, kwargs, s)
        args, kwargs = probe(np.random.default_rng(s), fns)
        b = _call(mutant, args, kwargs, s)
        if a[0] != b[0] or not same(a[1], b[1]):
            return Verdict(False, f"probe seed {s}: f({shown}): original gives {_outcome_text(a)}; "
                                  f"mutant gives {_outcome_text(b)}")
        if not same(a[2], b[2]):
            return Verdict(False, f"probe seed {s}: f({shown}): the arguments after the call differ: "
                                  f"original leaves {short(a[2][0], 200)}; mutant leaves {short(b[2][0], 200)}")
    return Verdict(True, "")


# --------------------------------------------------------------------------- namespaces

def origin_namespace(base_cells: list[str], cells: list[str]) -> dict:
    """The reference's cells, then an origin's own answer cells, executed in one namespace."""
    ns: dict = {"__name__": "initkit_audit_probe"}
    for i, src in enumerate(list(base_cells) + list(cells)):
        exec(compile(src, f"<audit cell {i}>", "exec"), ns)
    return ns


def functions_of(ns: dict, names) -> SimpleNamespace:
    return SimpleNamespace(**{n: ns[n] for n in names if n in ns})


# --------------------------------------------------------------------------- in workers

_STATE: dict = {}    # set before the pool forks: base cells, origins' cells, probes, answer names


def _on_alarm(signum, frame):
    raise _Timeout()


def _screen_one(task) -> Verdict:
    """One mutant: (origin name, function, mutant cell) -> Verdict, in a worker."""
    origin, function, cell, seed = task
    cache = _STATE.setdefault("namespaces", {})
    if origin not in cache:
        cache[origin] = origin_namespace(_STATE["base"], _STATE["origins"][origin])
    ns = cache[origin]
    fns = functions_of(ns, _STATE["answers"])
    probe = _STATE["probes"][function]
    mutant_ns = dict(ns)
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, _STATE.get("budget", BUDGET))
    try:
        exec(compile(cell, "<mutant>", "exec"), mutant_ns)
        return probe_pair(ns[function], mutant_ns[function], probe, fns,
                          probes=_STATE.get("probes_per_mutant", PROBES), seed=seed)
    except _Timeout:
        return Verdict(False, f"the mutant did not return within {_STATE.get('budget', BUDGET):g} s "
                              "on the probes (the original does)")
    except Exception as exc:        # noqa: BLE001 - a mutant that cannot even be defined differs
        return Verdict(False, f"the mutant fails outside the probes: {type(exc).__name__}: {exc}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def screen(tasks: list[tuple[str, str, str]], *, base: list[str], origins: dict[str, list[str]],
           probes: dict, answers: list[str], workers: int | None = None,
           probes_per_mutant: int = PROBES, budget: float = BUDGET, seed: int = 0) -> list[Verdict]:
    """Verdicts for (origin, function, mutant cell) tasks, in order; `origins` maps an origin to
    its own answer cells, `base` is the reference's cells, `probes` maps a function to its probe.
    Runs in forked worker processes (the state is inherited, nothing is pickled but the tasks)."""
    import multiprocessing

    missing = sorted({f for _, f, _ in tasks} - set(probes))
    if missing:
        from .alternatives import AuditSetupError

        raise AuditSetupError(f"audit/<assignment>/probes.py has no probe_{missing[0]}(rng, fns) "
                              f"(missing: {', '.join(missing)})")
    _STATE.clear()
    _STATE.update(base=base, origins=origins, probes=probes, answers=answers,
                  probes_per_mutant=probes_per_mutant, budget=budget)
    items = [(o, f, cell, seed) for o, f, cell in tasks]
    if not workers:
        from ..grading.cpus import default_workers

        workers = default_workers()
    if workers == 1 or len(items) < 8:
        return [_screen_one(t) for t in items]
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        return list(pool.map(_screen_one, items, chunksize=max(1, len(items) // (workers * 8))))
