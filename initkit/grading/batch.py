"""Grade every submission of an assignment in parallel, resumably, deterministically.

The steps, in order (see `grade_batch`):
  1. discover  `<submissions>/<student>/<assignment>/*.ipynb` -> one Job per student
  2. reuse     cached results whose key (submission bytes + autograder fingerprint) still
               matches, unless `force` (cache.py)
  3. grade     the rest in the worker pool (pool.py); every result is cached the moment it
               arrives, so a Ctrl-C or a kill keeps everything finished so far

Reports are the next stage (initkit.reports, called by initkit.api). Results are sorted by
student, so the output never depends on the worker count or the order in which workers finish.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from statistics import mean, median
from typing import TYPE_CHECKING, Callable, Iterator

from ..files import sync_folder
from ..handin import HandIn, printable_id, read_hand_in
from ..submission import SubmissionError
from .cache import ResultCache, cache_key, fingerprint
from .grade import check_grading_setup
from .pool import run_pool, sandbox_host
from .result import error_result, timed_out

if TYPE_CHECKING:
    from ..course import Course


def default_grade(hand_in, course, *, host=None, limits=None) -> dict:
    """The real autograder (imported lazily: it pulls in numpy and the sandbox)."""
    from .grade import grade_hand_in

    return grade_hand_in(hand_in, course, host=host, limits=limits)


@dataclass(frozen=True)
class Job:
    """One student's submission of the assignment, as handed in."""

    student: str
    notebook: str                  # the notebook's file name (or the assignment's, if none)
    shown: str                     # how messages name it (the path of the file or folder)
    hand_in: HandIn | None = None  # None when it cannot be graded (see error)
    error: str | None = None       # why it cannot be graded, found before grading
    root: Path | None = None       # the submissions folder it was found in
    digest: str | None = None      # of the notebook's bytes when it was found

    @property
    def timestamp(self) -> str | None:
        return self.hand_in.timestamp if self.hand_in else None

    def without_data(self) -> "Job":
        """This job without the notebook's bytes (read again by `load` just before grading): a
        batch keeps only the submissions in flight in memory, and worker processes forked from
        it do not carry a copy of every notebook."""
        return replace(self, hand_in=replace(self.hand_in, data=b""), digest=self.hand_in.digest)

    def load(self) -> HandIn:
        """The hand-in with its bytes, read again if `without_data` dropped them; a
        SubmissionError if the file is gone or changed since it was found (its cache key would
        be another file's)."""
        if self.digest is None or self.root is None:
            return self.hand_in
        assignment = Path(self.hand_in.path).parent.name     # <root>/<student>/<assignment>/<nb>
        again = read_hand_in(self.root, self.student, assignment, self.hand_in.name)
        if again.name != self.hand_in.name or again.digest != self.digest:
            raise SubmissionError(self.shown, "the file changed while the batch was grading; "
                                  "grade again to grade the new version")
        return replace(self.hand_in, data=again.data)         # the note etc. as first found


@dataclass
class BatchSummary:
    """What a batch produced: the results (sorted by student) and where the files went."""

    course: "Course"
    results: list[dict]
    out_dir: Path
    files: dict[str, str] = field(default_factory=dict)
    graded_now: int = 0
    reused: int = 0
    workers: int = 0
    elapsed: float = 0.0
    grading_seconds: float = 0.0   # of elapsed: grading in the workers
    reports_seconds: float = 0.0   # of elapsed: CSV, JSON, feedback pages and the gradebook
    timestamps: dict[str, str] = field(default_factory=dict)   # student -> timestamp.txt's time
    submissions: Path | None = None                            # the folder graded
    only: set[str] | None = None      # a regrade of these students: the others' rows are the last run's
    changes: list[tuple[str, float | None, float]] = field(default_factory=list)  # (student, before, now)

    @property
    def assignment(self) -> str:
        return self.course.assignment

    @property
    def graded(self) -> list[dict]:
        return [r for r in self.results if r["status"] == "graded"]

    @property
    def errors(self) -> list[dict]:
        return [r for r in self.results if r["status"] == "error"]

    @property
    def timeouts(self) -> list[dict]:
        return [r for r in self.results if timed_out(r)]

    @property
    def mean_score(self) -> float | None:
        scores = [r["score"] for r in self.graded]
        return mean(scores) if scores else None

    @property
    def median_score(self) -> float | None:
        scores = [r["score"] for r in self.graded]
        return median(scores) if scores else None

    def most_failed(self, n: int = 5) -> list[tuple[str, int]]:
        """Criteria on which the most graded submissions lost points, most first (ties: the
        course's order)."""
        order = list(self.course.criteria)
        counts = {name: 0 for name in order}
        for r in self.graded:
            for name, c in r["criteria"].items():
                if name in counts and c["score"] < c["max_score"] - 1e-9:
                    counts[name] += 1
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], order.index(kv[0])))
        return [(name, k) for name, k in ranked if k > 0][:n]


# --------------------------------------------------------------------------- discovery

def discover(root: str | os.PathLike, assignment: str, notebook: str) -> Iterator[Job]:
    """One Job per `<root>/<student>/<assignment>/` folder, in student order, each with the
    notebook the rule of handin.py picks, already read (`notebook`: the release's file name).

    Students without a folder for this assignment did not submit it and get no row. What is wrong
    with one student's folder (no notebook or several, a link, an unreadable file, a bad
    timestamp.txt, a folder name that is not text) is that student's Job error, never the batch's.
    A folder not in this layout at all is the batch's CourseError (`check_layout`).
    """
    root = Path(root)
    check_layout(root, assignment, notebook)
    taken: set[str] = set()
    for name in sorted(os.listdir(root)):
        # Only looks (lstat, isdir): nothing is opened here; read_hand_in opens without following.
        if name.startswith(".") or not os.path.isdir(root / name / assignment):
            continue
        job = _job(root, name, assignment, notebook)
        if job.student in taken:     # b"caf\xe9" (not UTF-8) beside a folder named "caf\\xe9"
            job = Job(_unique(job.student, taken), job.notebook, job.shown,
                      error=f"{root / job.student}: two folders have this name once shown as text "
                            "(one of them is not valid UTF-8); rename one of them")
        taken.add(job.student)
        yield job


_LOOK_AT_MOST = 10_000     # entries a layout check reads, at most, to say what a folder holds


def check_layout(root: str | os.PathLike, assignment: str, notebook: str) -> None:
    """A CourseError (exit 2: one line naming what was found and the layout expected) unless
    `root` holds at least one `<student>/<assignment>/` folder, the layout `discover` reads.

    A missing or empty folder, notebooks lying elsewhere (a flat LMS unzip, `<student>/x.ipynb`)
    and student folders that hold other assignments only are each that error, never a batch of
    0 submissions; Canvas's file names get a pointer to `initkit collect canvas`. Only looks
    (stat, scandir without following links), never opens a file; a folder in the right layout
    costs one listing and a stat per folder up to the first student who has the assignment.
    """
    from ..course import CourseError

    root = Path(root)
    expected = (f"expected {root}/<student>/{assignment}/{notebook}, one folder per student as "
                "nbgrader collect leaves them")
    collect = ("for Canvas's Download Submissions zip: initkit collect canvas ZIP --assignment "
               + assignment)
    if not root.is_dir():
        raise CourseError(f"{root}: submissions folder not found; {expected} ({collect})")
    names = sorted(n for n in os.listdir(root) if not n.startswith("."))
    if any(os.path.isdir(root / n / assignment) for n in names):
        return
    if not names:
        raise CourseError(f"{root}: the submissions folder is empty; {expected} ({collect})")
    found, more = _notebooks_under(root)
    if found and all(len(Path(p).parts) == 3 for p in found):
        others = sorted({Path(p).parts[1] for p in found})
        raise CourseError(f"{root}: no submission of {assignment}: no student folder has "
                          f"{assignment}/ (they hold {_few(others)}, e.g. {found[0]}); {expected}")
    if found:
        from ..lms.canvas_zip import canvas_name

        count = f"{len(found)}{' or more' if more else ''}"
        hint = (f"; these look like Canvas's Download Submissions: run initkit collect canvas "
                f"on the zip Canvas downloaded (ZIP --assignment {assignment})"
                if any(canvas_name(Path(p).name) for p in found) else "")
        raise CourseError(f"{root}: {count} notebook(s), none in a folder named {assignment} "
                          f"(e.g. {_few(found, 3)}); {expected}{hint}")
    zipped = f" ({collect})" if any(n.lower().endswith(".zip") for n in names) else ""
    raise CourseError(f"{root}: no submission of {assignment} and no notebook (found: "
                      f"{_few([printable_id(n) for n in names])}); {expected}{zipped}")


def _notebooks_under(root: Path, depth: int = 3) -> tuple[list[str], bool]:
    """(the `.ipynb` files at most `depth` levels under `root`, as relative paths, sorted; whether
    there may be more than were read). Hidden entries and links are skipped, never followed."""
    found: list[str] = []
    seen = 0
    folders = [(root, "", 1)]
    while folders:
        folder, prefix, level = folders.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    seen += 1
                    if seen > _LOOK_AT_MOST:
                        return sorted(found), True
                    if entry.name.startswith("."):
                        continue
                    rel = prefix + printable_id(entry.name)
                    if entry.is_dir(follow_symlinks=False):
                        if level < depth:
                            folders.append((Path(entry.path), rel + "/", level + 1))
                    elif entry.name.lower().endswith(".ipynb") and entry.is_file(follow_symlinks=False):
                        found.append(rel)
        except OSError:
            continue
    return sorted(found), False


def _few(names: list[str], most: int = 5) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def _unique(student: str, taken: set[str]) -> str:
    n = 2
    while f"{student} ({n})" in taken:
        n += 1
    return f"{student} ({n})"


def _job(root: Path, name: str, assignment: str, notebook: str) -> Job:
    student = printable_id(name)
    folder = root / student / assignment
    if student != name:
        return Job(student, notebook, str(folder), error=f"{folder}: the folder name is not valid "
                   "UTF-8 text; rename the student's folder")
    try:
        hand_in = read_hand_in(root, name, assignment, notebook)
        check_timestamp(hand_in.timestamp, folder)
    except SubmissionError as exc:
        return Job(student, notebook, str(folder), error=str(exc))
    return Job(student, hand_in.name, str(folder / hand_in.name), hand_in, root=root)


def check_timestamp(text: str | None, folder: Path) -> None:
    """A SubmissionError naming timestamp.txt if `text` is not a date and time nbgrader can read."""
    from dateutil.parser import parse

    if text is None:
        return
    from datetime import timezone

    try:
        when = parse(text)
        if when.tzinfo is not None:     # as nbgrader's parse_utc, which the gradebook uses
            when.astimezone(timezone.utc)
    except (ValueError, OverflowError) as exc:
        raise SubmissionError(folder / "timestamp.txt",
                              f"{text[:60]!r} is not a date and time ({exc})") from None


# --------------------------------------------------------------------------- the batch

def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def make_limits(timeout: float | None, isolation: str = "bubblewrap"):
    """sandbox.Limits with every wall-clock limit capped at `timeout` seconds per submission, and
    student code isolated as `isolation` says (sandbox.limits.ISOLATIONS)."""
    from ..sandbox import Limits
    from ..sandbox.limits import ISOLATIONS

    if isolation not in ISOLATIONS:
        raise ValueError(f"isolation {isolation!r}: expected one of {', '.join(ISOLATIONS)}")
    limits = Limits(isolation=isolation)
    if timeout is not None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        limits.total_timeout = float(timeout)
        limits.cell_timeout = min(limits.cell_timeout, float(timeout))
        limits.call_timeout = min(limits.call_timeout, float(timeout))
    return limits


def grade_batch(course: "Course", out_dir: str | os.PathLike | None = None, *,
                submissions_dir: str | os.PathLike | None = None, workers: int | None = None,
                timeout: float | None = None, force: bool = False, progress: bool = True,
                grade: Callable = default_grade, limits=None,
                host_factory: Callable | None = sandbox_host,
                watchdog: float | None = None, students: set[str] | None = None,
                scheduler=None, on_filed: Callable[[dict, str | None], None] | None = None,
                isolation: str = "bubblewrap") -> BatchSummary:
    """Grade every submission of the course's assignment; returns the summary (no reports).

    out_dir          where cache/ goes (default `<course>/grading-output`)
    submissions_dir  a plain folder of `<student>/<assignment>/*.ipynb` (default: the course's
                     submitted/)
    workers          worker processes (default: all cores)
    timeout          wall seconds allowed per submission (caps the sandbox's wall-clock limits)
    isolation        "bubblewrap" (default: refuses where it cannot start), "none" or "auto"
                     (sandbox.limits.Limits); ignored when `limits` is given
    force            regrade everything, ignoring cached results
    grade            the grading function, grade(path, course, *, host, limits, student)
                     (tests inject a fake one)
    host_factory     makes each worker's long-lived host from the limits (None: no host)
    watchdog         wall seconds after which a worker still grading one submission is killed
                     (default 1.5 x the limits' total_timeout + 30 s: a last resort)
    students         grade only these (always afresh); the summary holds only their results, and
                     every other student's cached result is kept
    scheduler        a dask.distributed scheduler address (or Client): grade on that cluster
                     instead of local worker processes (cluster.py); `workers` is then ignored
    on_filed         called with each result graded now, as the summary will hold it, and the
                     submission's timestamp, as soon as it is filed (reports written meanwhile)
    """
    started = time.perf_counter()
    out = Path(out_dir) if out_dir is not None else course.default_output
    root = Path(submissions_dir) if submissions_dir is not None else course.submitted
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if limits is None and (timeout is not None or grade is default_grade):
        limits = make_limits(timeout, isolation)

    autograder = fingerprint(course, limits, grade)
    cache = ResultCache(out)
    results: dict[str, dict] = {}
    todo: list[Job] = []           # only these keep their notebook's bytes in memory
    keys: dict[str, str] = {}
    timestamps: dict[str, str] = {}
    reused = 0
    found: set[str] = set()
    for job in discover(root, course.assignment, course.notebook):
        if students is not None and job.student not in students:
            continue
        found.add(job.student)
        if job.error is not None:
            results[job.student] = error_result(job.student, job.notebook, course.criteria, job.error)
            continue
        if job.timestamp:
            timestamps[job.student] = job.timestamp
        # The notes a result carries (which file was graded and why, a collect remark) are in
        # the key: a stray copy added beside an unchanged notebook changes its note.
        keys[job.student] = key = cache_key(job.student, job.notebook, job.hand_in.digest, autograder,
                                             "\n".join(filter(None, [job.hand_in.note,
                                                                      job.hand_in.remark])))
        cached = None if force or students is not None else cache.load(key)
        if cached is not None:
            results[job.student] = cached
            reused += 1
        else:
            todo.append(job.without_data())
    missing = sorted(set(students or ()) - found)
    if missing:
        from ..course import CourseError

        raise CourseError(f"{root}: no submission of {course.assignment} for "
                          f"{', '.join(missing)} (no folder <student>/{course.assignment}/)")
    if todo and grade is default_grade:
        # Collected once here (before the progress bar: collection swaps sys.stderr for a moment),
        # inherited by the forked workers; a broken course fails here, before any worker starts.
        check_grading_setup(course)
    n_workers = min(workers or default_workers(), max(1, len(todo)))
    where = f"{n_workers} worker(s)" if scheduler is None else f"the Dask cluster at {scheduler}"
    if progress:
        print(f"{len(results) + len(todo)} submissions of {course.assignment} in {root}: "
              f"{reused} unchanged (cached), {len(todo)} to grade with {where}",
              file=sys.stderr)

    bar = None
    if progress and todo:
        from ..progress import progress as progress_bar

        bar = progress_bar(len(todo), "grading")

    def on_result(job: Job, result: dict) -> None:
        result = {**result, "student": job.student}  # the folder name is the student id
        results[job.student] = filed = cache.store(keys[job.student], result)
        if on_filed is not None:
            on_filed(filed, timestamps.get(job.student))
        if bar is not None:
            bar.update(1)

    try:
        if todo:
            if watchdog is None:
                watchdog = 1.5 * limits.total_timeout + 30.0 if limits is not None else 3600.0
            if scheduler is None:
                run_pool(todo, workers=n_workers, grade=grade, course=course, limits=limits,
                         host_factory=host_factory, watchdog=watchdog, on_result=on_result)
            else:
                from .cluster import run_cluster

                n_workers = run_cluster(todo, scheduler=scheduler, grade=grade, course=course,
                                        limits=limits, host_factory=host_factory,
                                        watchdog=watchdog, on_result=on_result,
                                        collect=grade is default_grade)
    finally:
        if bar is not None:
            bar.close()

    if students is None:
        # Only a run that saw every submission knows which results are superseded: a regrade of
        # some students (`keys` holds only theirs) leaves everyone else's cached result alone,
        # and the next full run drops the regraded students' old ones.
        cache.prune(set(keys.values()))
    if todo:
        sync_folder(cache.folder)      # the results were written without an fsync each
    return BatchSummary(course=course, results=[results[s] for s in sorted(results)], out_dir=out,
                        graded_now=len(todo), reused=reused, workers=n_workers,
                        timestamps=timestamps, submissions=root,
                        grading_seconds=time.perf_counter() - started)
