"""Benchmark: `initkit grade` vs nbgrader's own `nbgrader autograde` vs the in-process floor.

    python benchmarks/bench_grade.py [-n 200] [--nbgrader-sample 10] [--workers N] [--keep]

Builds N submissions in a temporary course (a realistic mix: mostly correct, some written
differently, the common mistakes of examples/init_symmetry/make_examples.py; no infinite loops, whose cost is
the timeout setting, not the machinery), then in one run times:

  initkit   the batch API as `initkit grade` runs it (sandboxed, all reports and the gradebook)
  nbgrader  `nbgrader autograde` on a sample of the same submissions (after `nbgrader
            generate_assignment`), extrapolated per submission
  floor     the same batch with the same checks run in-process, without any isolation
  cluster   the same batch on a local dask.distributed cluster (a scheduler and one one-thread
            worker process per local worker), started before the clock starts

and prints submissions/s for each, the ratios, the peak memory of each worker (the worker
process plus its sandbox processes: RSS summed, and PSS, which counts shared pages once), and that
of the process writing the reports meanwhile (its peak RSS, as the kernel counted it when it
ended, and its sampled PSS). `--nbgrader-sample 0` and `--no-cluster` leave those runs out.
Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = "init_symmetry"

# variant -> weight in the mix (out of 100)
MIX = {
    "correct": 45,
    "correct_written_differently": 15,
    "he_uses_1_over_fan_in": 8,
    "cost_missing_1_over_m": 8,
    "zero_init_only": 6,
    "tiled_random_rows": 6,
    "symmetry_check_ignores_bias": 6,
    "untouched_stub": 6,
}


def _make_examples():
    spec = importlib.util.spec_from_file_location("make_examples", REPO / "examples" / ASSIGNMENT / "make_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_course(root: Path, n: int) -> list[str]:
    """A course folder (config, source and release notebooks, hidden tests) with n submissions;
    returns the student ids."""
    import nbformat

    from initkit.course import Course
    from initkit.solutions import make_submission

    examples = _make_examples()
    root.mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    for folder in (f"source/{ASSIGNMENT}", f"release/{ASSIGNMENT}", "autograder"):
        shutil.copytree(REPO / folder, root / folder,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    course = Course.open(root, ASSIGNMENT)
    base = {name: make_submission(course, examples.EXAMPLES[name]) for name in MIX}
    order = [name for name, weight in MIX.items() for _ in range(weight)]
    students = []
    for i in range(n):
        variant = order[(i * 37) % len(order)]          # spread the variants through the batch
        student = f"s{i:04d}_{variant}"
        nb = nbformat.from_dict(base[variant])
        nb.cells.append(nbformat.v4.new_markdown_cell(f"Submitted by {student}."))
        nb.cells[-1]["id"] = "submitted-by"
        path = root / "submitted" / student / ASSIGNMENT / "init_symmetry.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, str(path))
        students.append(student)
    return students


# --------------------------------------------------------------------------- memory sampling

def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def _tree(pid: int) -> list[int]:
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


def _mem_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in kB; zeros if it is gone."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


class PeakWorkerMemory:
    """Samples every worker's process tree (worker + sandbox processes) while a batch runs; the
    process writing the reports meanwhile (initkit-reports) is measured on its own."""

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.peak_rss = self.peak_pss = 0
        self.reports_rss = self.reports_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            for worker in _children(me):
                rss = pss = 0
                for pid in _tree(worker):
                    r, p = _mem_kb(pid)
                    rss, pss = rss + r, pss + p
                if _comm(worker) == "initkit-reports":
                    self.reports_rss = max(self.reports_rss, rss)
                    self.reports_pss = max(self.reports_pss, pss)
                    continue
                self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, from /proc/stat ((0, 0) elsewhere)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0, 0
    return sum(fields) - fields[3] - fields[4], sum(fields)      # minus idle and iowait


class MachineLoad:
    """How busy the whole machine was during a run (every process, not only ours): on a shared
    machine, a figure measured while others computed is slower than the code is."""

    def __enter__(self):
        self._start = _cpu_jiffies()
        return self

    def __exit__(self, *exc):
        busy, total = (b - a for a, b in zip(self._start, _cpu_jiffies()))
        self.busy = busy / total if total else float("nan")


# --------------------------------------------------------------------------- the three runs

class InProcessHost:
    """The floor: same host interface as SandboxHost, student code exec'd in the worker itself."""

    isolation = "none"

    def __init__(self, limits=None):
        self.limits = limits

    def open_session(self, cells):
        from initkit.sandbox.inprocess import InProcessStudent

        return InProcessStudent(cells)

    def close(self):
        pass


def run_batch(course: Path, out: Path, workers: int | None, host_factory=None):
    """One batch into `out`, with a gradebook of its own there: each run creates its database and
    its 1 x N submissions, as the first `initkit grade` of a course does."""
    from initkit import api
    from initkit.course import Course

    kwargs = {} if host_factory is None else {"host_factory": host_factory}
    out.mkdir(parents=True)
    with PeakWorkerMemory() as mem, MachineLoad() as load:
        start = time.perf_counter()
        summary = api.grade(Course.open(course, ASSIGNMENT), out, workers=workers, force=True,
                            progress=True, gradebook=f"sqlite:///{out / 'gradebook.db'}", **kwargs)
        elapsed = time.perf_counter() - start
    mem.machine_busy = load.busy
    return summary, elapsed, mem


def run_cluster_batch(course: Path, out: Path, workers: int):
    """The same batch on a dask.distributed cluster: a local scheduler and `workers` one-thread
    worker processes, started before the clock starts (an existing cluster, as `initkit grade
    --scheduler` finds it); the clock includes shipping the grading bundle to the workers."""
    from distributed import LocalCluster

    from initkit import api
    from initkit.course import Course

    out.mkdir(parents=True)
    os.environ.setdefault("INITKIT_PIN_WORKERS", "1")    # dedicated workers (docs/cluster.md)
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=40) as cluster:
        start = time.perf_counter()
        summary = api.grade(Course.open(course, ASSIGNMENT), out, force=True, progress=True,
                            gradebook=f"sqlite:///{out / 'gradebook.db'}",
                            scheduler=cluster.scheduler_address)
        elapsed = time.perf_counter() - start
    return summary, elapsed


def run_nbgrader(course: Path, students: list[str], sample: int) -> tuple[float, int]:
    """`nbgrader autograde` on the first `sample` students in their own course copy."""
    nb_course = course.parent / "nbgrader-course"
    nb_course.mkdir()
    # nbgrader's own autograde: the course's config without its initkit steps (the first
    # `c.Autograde.` setting on: they would make `nbgrader autograde` grade with initkit).
    config = (course / "nbgrader_config.py").read_text()
    (nb_course / "nbgrader_config.py").write_text(config.split("\nc.Autograde.")[0] + "\n")
    shutil.copytree(course / "source", nb_course / "source")
    for student in students[:sample]:
        shutil.copytree(course / "submitted" / student, nb_course / "submitted" / student)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    nbgrader = [sys.executable, "-m", "nbgrader"]
    subprocess.run(nbgrader + ["generate_assignment", ASSIGNMENT, "--force"], cwd=nb_course,
                   env=env, check=True, capture_output=True)
    start = time.perf_counter()
    proc = subprocess.run(nbgrader + ["autograde", ASSIGNMENT, "--force"], cwd=nb_course, env=env,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    graded = len(list((nb_course / "autograded").glob(f"*/{ASSIGNMENT}/*.ipynb")))
    if proc.returncode != 0 and graded == 0:
        sys.exit(f"nbgrader autograde failed:\n{proc.stderr[-3000:]}")
    return elapsed, graded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="number of submissions (default 200)")
    parser.add_argument("--nbgrader-sample", type=int, default=10,
                        help="submissions given to nbgrader autograde (default 10)")
    parser.add_argument("--workers", type=int, default=None, help="default: all cores")
    parser.add_argument("--keep", action="store_true", help="keep the temporary course")
    parser.add_argument("--no-cluster", action="store_true",
                        help="skip the dask.distributed run (it needs initkit[dask])")
    args = parser.parse_args(argv)
    import logging

    notes = logging.getLogger("initkit")        # its notes on stderr, as `initkit grade` shows them
    notes.setLevel(logging.INFO)
    notes.addHandler(logging.StreamHandler())

    from initkit.grading.cpus import default_workers

    tmp = Path(tempfile.mkdtemp(prefix="initkit-bench-"))
    try:
        course = tmp / "course"
        t0 = time.perf_counter()
        students = build_course(course, args.n)
        print(f"built {args.n} submissions in {time.perf_counter() - t0:.1f} s ({course})",
              file=sys.stderr)
        workers = args.workers or default_workers()

        summary, t_init, mem = run_batch(course, tmp / "out-initkit", args.workers)
        isolation = {r.get("isolation") for r in summary.graded}
        floor, t_floor, floor_mem = run_batch(course, tmp / "out-floor", args.workers, InProcessHost)
        cluster = None if args.no_cluster else run_cluster_batch(course, tmp / "out-cluster", workers)
        t_nb, n_nb = (run_nbgrader(course, students, args.nbgrader_sample)
                      if args.nbgrader_sample > 0 else (float("nan"), 0))

        rate_init, rate_floor = args.n / t_init, args.n / t_floor
        rate_nb = n_nb / t_nb if n_nb else float("nan")
        print()
        print(f"{args.n} submissions, {workers} worker(s), {os.cpu_count()} cores, "
              f"isolation {', '.join(sorted(map(str, isolation)))}")
        print(f"  graded {len(summary.graded)}, errors {len(summary.errors)}, "
              f"timeouts {len(summary.timeouts)}, mean score {summary.mean_score:.1f}")
        print(f"  initkit grade      {t_init:7.1f} s   {rate_init:7.2f} submissions/s")
        if n_nb:
            print(f"  nbgrader autograde {t_nb:7.1f} s   {rate_nb:7.2f} submissions/s "
                  f"({n_nb} submissions, {t_nb / n_nb:.2f} s each)")
        print(f"  floor (in-process) {t_floor:7.1f} s   {rate_floor:7.2f} submissions/s")
        if cluster is not None:
            dist, t_dist = cluster
            same = [(r["student"], r["score"]) for r in dist.results] == \
                   [(r["student"], r["score"]) for r in summary.results]
            print(f"  dask cluster       {t_dist:7.1f} s   {args.n / t_dist:7.2f} submissions/s "
                  f"(local scheduler, {workers} one-thread workers; grading "
                  f"{dist.grading_seconds:.1f} s; {t_dist / t_init:.2f}x the local pool's time; "
                  f"grades {'identical' if same else 'DIFFERENT'})")
        print(f"    of which grading  {summary.grading_seconds:7.1f} s   "
              f"{args.n / summary.grading_seconds:7.2f} submissions/s (sandboxed, initkit)")
        print(f"    of which grading  {floor.grading_seconds:7.1f} s   "
              f"{args.n / floor.grading_seconds:7.2f} submissions/s (in-process floor)")
        print(f"    left after the last grade (class-wide files, last gradebook rows) "
              f"{summary.reports.seconds:5.1f} s (initkit), {floor.reports.seconds:.1f} s (floor)")
        if n_nb:
            print(f"  initkit / nbgrader   {rate_init / rate_nb:6.1f}x faster")
        print(f"  grading only: initkit / floor {summary.grading_seconds / floor.grading_seconds:5.2f}x "
              "the floor's time")
        print(f"  initkit / floor      {t_init / t_floor:6.2f}x the floor's time")
        print(f"  peak memory per worker (worker + its sandbox): RSS {mem.peak_rss / 1024:.0f} MB, "
              f"PSS {mem.peak_pss / 1024:.0f} MB")
        peak = summary.reports.max_rss
        print(f"  peak memory of the reports process: RSS "
              f"{'(written in this process)' if peak is None else f'{peak / 2**20:.0f} MB'}, "
              f"PSS {mem.reports_pss / 1024:.0f} MB (sampled)")
        print(f"  1,000 submissions at this rate: {1000 / rate_init:.0f} s")
        print(f"  machine busy (all processes, {os.cpu_count()} cores): {100 * mem.machine_busy:.0f}% "
              f"during initkit, {100 * floor_mem.machine_busy:.0f}% during the floor; load average "
              f"now {os.getloadavg()[0]:.1f}")
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
