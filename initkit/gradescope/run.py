"""What a Gradescope autograder runs for each submission (`python -m initkit.gradescope.run`,
called by the zip's run_autograder): find the student's notebook in <root>/submission, grade it
with the course in <root>/source/course, write <root>/results/results.json.

results.json is written for every outcome but one: no notebook, several notebooks, a broken
notebook, a course that cannot be loaded, a sandbox that cannot run code or any other exception
gives a score of 0 and an explanation for the student, never Gradescope's "autograder failed".
Details for the instructor (tracebacks, the grader's report) go to stdout and stderr, which
Gradescope shows to instructors only (results.json sets stdout_visibility "hidden").

Isolation is gradescope.json's "isolation" (`initkit gradescope --isolation`, sandbox.Limits):
  auto        bubblewrap where it starts; Gradescope's containers usually refuse the namespaces it
              needs, and then the submission is graded with isolation "none" (docs/sandbox.md:
              student code runs as an unprivileged uid with every resource limit, and the
              container is the boundary); the log says which, and why.
  none        always that.
  bubblewrap  required: where it cannot start, the submission is NOT graded. No results.json is
              written and the exit status is UNGRADED (75): run_autograder passes it on, Gradescope
              tells the student the autograder failed to run (never a grade of 0 for it) and the
              instructor reads the reason in the log and reruns it (Regrade) after fixing it.

`--check` (run by setup.sh while Gradescope builds the image) loads the configuration, the course,
its hidden tests and reference, and tries the sandbox: a broken autograder fails the build with a
readable message instead of failing every student. Where the required bubblewrap cannot start,
the check only warns: the container that builds the image need not be the one that grades.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import traceback
from pathlib import Path

CONFIG = "gradescope.json"        # in the zip's root (/autograder/source): what the build chose
COURSE = "course"                 # in the zip's root: the course's grading bundle
ROOT_ENV = "INITKIT_GRADESCOPE_ROOT"
DEFAULT_ROOT = "/autograder"
_IGNORED_FOLDERS = {"__MACOSX", ".ipynb_checkpoints"}

UNGRADED = 75       # exit status (EX_TEMPFAIL): required bubblewrap cannot start, no results.json
STUDENT = "submission"      # the student id of the one submission graded

INTERNAL_ERROR = ("The autograder could not grade this submission because of a problem on our "
                  "side, not in your notebook (score 0 for now). Your instructor can see the "
                  "details in the autograder's log; please let them know.")


class NotGradable(Exception):
    """What the student uploaded cannot be graded; str() is the message for the student."""


class IsolationUnavailable(Exception):
    """The autograder requires bubblewrap and it cannot start here: no grade at all (no
    results.json), so that Gradescope reports an autograder failure the instructor can rerun.
    str() is the reason, for the instructor's log."""


def log(text: str) -> None:
    print(text, flush=True)


def load_config(source: Path) -> dict:
    config = json.loads((source / CONFIG).read_text(encoding="utf-8"))
    if not isinstance(config, dict) or config.get("format") != 1:
        raise ValueError(f"{CONFIG}: not an initkit Gradescope configuration (format 1)")
    return config


def open_course(source: Path, config: dict):
    from ..course import Course

    course = Course.open(source / COURSE, config["assignment"])
    try:      # without bubblewrap, student code runs as another uid: keep it out of the course
        os.chmod(course.root, 0o700)
    except OSError:
        pass
    return course


def _notebooks_below(folder: Path) -> list[str]:
    found = []
    for top, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _IGNORED_FOLDERS)
        found += [str((Path(top) / n).relative_to(folder)) for n in sorted(names)
                  if n.lower().endswith(".ipynb") and not n.startswith(".")]
    return found


def find_notebook(submission: Path, expected: str) -> tuple[Path, str | None]:
    """(the notebook to grade, a note or None) among what the student uploaded: handin.py's rule
    (the release's name, else the only notebook, else an error naming the files)."""
    from ..handin import pick_notebook
    from ..submission import SubmissionError

    try:
        names = os.listdir(submission)
    except OSError:
        names = []
    try:
        name, note = pick_notebook(names, expected, "your submission")
    except SubmissionError as exc:
        deeper = [] if any(n.lower().endswith(".ipynb") for n in names) else _notebooks_below(submission)
        if deeper:
            raise NotGradable(f"No notebook at the top of your submission; found inside folders: "
                              f"{', '.join(deeper[:5])}. Upload the notebook file itself "
                              f"({expected}), not a folder or a zip of one, and submit "
                              "again.") from None
        raise NotGradable(f"Your submission: {exc.problem}. Upload your notebook ({expected}) "
                          "and submit again.") from None
    return submission / name, note


_REFUSED = re.compile(r"^bubblewrap cannot isolate student code here \((.*)\); install it")


def isolation_note(host) -> str:
    """The log line saying how this submission's student code is isolated, and why."""
    if host.isolation == "bubblewrap":
        return "isolation: bubblewrap"
    if host.fallback_reason:            # "auto" where bubblewrap cannot start
        found = _REFUSED.match(host.fallback_reason)
        reason = found.group(1) if found else host.fallback_reason
        return (f"isolation: none (auto): bubblewrap cannot start in this container ({reason}); "
                "grading with isolation 'none': the container is the boundary (docs/gradescope.md)")
    return ("isolation: none (chosen when the autograder was built): the container is the "
            "boundary (docs/gradescope.md)")


def open_sandbox(limits):
    """SandboxHost(limits). Where `limits.isolation` is "bubblewrap" (required) and the sandbox
    cannot start, IsolationUnavailable: the submission must not be graded at all."""
    from ..sandbox import SandboxHost, SandboxStartError

    try:
        return SandboxHost(limits)
    except SandboxStartError as exc:
        if limits.isolation != "bubblewrap":
            raise
        raise IsolationUnavailable(" ".join(str(exc).split())[:1000]) from None


def read_metadata(root: Path) -> dict | None:
    try:
        data = json.loads((root / "submission_metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def grade_submission(root: Path, source: Path, state: dict) -> dict:
    """results.json's content for the submission in `root`. Raises on anything unexpected;
    `state` keeps what was loaded so far, for the failure results."""
    from ..grading.batch import check_grading_setup, make_limits
    from ..grading.grade import grade_notebook
    from ..grading.result import grade_or_error_row
    from ..reports.summary import format_result
    from .late import LatePolicy, lateness
    from .results import failure_results, gradescope_results

    config = state["config"] = load_config(source)
    course = state["course"] = open_course(source, config)
    visibility = config.get("visibility", "visible")
    try:
        path, note = find_notebook(root / "submission", course.notebook)
    except NotGradable as exc:
        log(f"not graded: {exc}")
        return failure_results(str(exc), course, visibility=visibility,
                               execution_time=time.monotonic() - state["started"])
    log(f"grading {path.name}" + (f" ({note})" if note else ""))
    check_grading_setup(course)
    limits = make_limits(config.get("timeout"), config.get("isolation", "auto"))
    host = open_sandbox(limits)            # where the required bubblewrap cannot start: no grade
    log(isolation_note(host))
    try:
        result = grade_or_error_row(
            lambda: grade_notebook(path, course, host=host, limits=limits, student=STUDENT, note=note),
            course, student=STUDENT, notebook=path.name, shown=path.name)
    finally:
        host.close()
    log(format_result(result))
    policy = LatePolicy.from_json(config.get("late_policy"))
    late = lateness(policy, read_metadata(root)) if policy is not None else None
    if late is not None and late.message:
        log(late.message)
    return gradescope_results(result, course, visibility=visibility, late=late,
                              execution_time=time.monotonic() - state["started"])


def write_results(path: Path, results: dict) -> None:
    from ..files import atomic_write, json_default

    atomic_write(path, json.dumps(results, indent=1, ensure_ascii=False, allow_nan=False,
                                  default=json_default) + "\n")


def run(root: str | os.PathLike, source: str | os.PathLike | None = None) -> int:
    """Grade <root>/submission, write <root>/results/results.json. 0 when results were written;
    UNGRADED, and no results.json, where the required bubblewrap cannot start."""
    root = Path(root)
    source = Path(source) if source is not None else root / "source"
    out = root / "results" / "results.json"
    state = {"started": time.monotonic(), "config": {}, "course": None}
    try:
        results = grade_submission(root, source, state)
    except IsolationUnavailable as exc:
        try:
            out.unlink(missing_ok=True)     # no grade, not even an old one
        except OSError:
            pass
        log(f"NOT GRADED: this autograder requires bubblewrap (built with --isolation bubblewrap) "
            f"and it cannot start in this container: {exc}")
        log("No results.json was written: Gradescope shows the student that the autograder failed "
            "to run, not a grade. Make bubblewrap work here, or rebuild the zip with --isolation "
            "auto if this container may be the boundary (docs/gradescope.md), upload it, then "
            "Regrade the submissions.")
        return UNGRADED
    except BaseException as exc:            # noqa: BLE001 - the student always gets a results.json
        traceback.print_exc()
        from .results import failure_results

        reason = INTERNAL_ERROR
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            reason = "The autograder was stopped before it finished (score 0 for now); please submit again."
        results = failure_results(reason, state["course"],
                                  visibility=state["config"].get("visibility", "visible"),
                                  execution_time=time.monotonic() - state["started"])
    try:
        write_results(out, results)
    except Exception:                       # noqa: BLE001 - last resort: the smallest valid file
        traceback.print_exc()
        try:
            from .results import failure_results

            write_results(out, failure_results(INTERNAL_ERROR))
        except Exception:                   # noqa: BLE001 - run_autograder's fallback writes it
            traceback.print_exc()
            return 1
    log(f"score {results['score']}; results written to {out}")
    return 0


def check(source: str | os.PathLike) -> int:
    """setup.sh's check: the configuration, the course and its hidden tests load; the sandbox's
    isolation here is reported. Exit 0 when submissions can be graded."""
    from ..grading.batch import check_grading_setup, make_limits

    source = Path(source)
    try:
        config = load_config(source)
        course = open_course(source, config)
        check_grading_setup(course)
    except Exception as exc:                # noqa: BLE001 - one readable line in the build log
        print(f"initkit autograder check FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    log(f"initkit autograder: {course.assignment}, {len(course.criteria)} criteria, "
        f"{course.max_score:g} points; visibility {config.get('visibility', 'visible')}; "
        f"late policy {config.get('late_policy') or 'off'}")
    isolation = config.get("isolation", "auto")
    try:
        host = open_sandbox(make_limits(config.get("timeout"), isolation))
        log(isolation_note(host))
        host.close()
    except IsolationUnavailable as exc:
        # Only a warning: the container that builds the image need not be the one that grades
        # (and setup.sh runs before Gradescope's run-time settings apply). Each submission
        # decides for itself, and fails visibly (no grade, rerunnable) where it cannot start.
        log(f"isolation: WARNING: this autograder requires bubblewrap (--isolation bubblewrap) and "
            f"it cannot start while the image is built: {exc}. If it cannot start when grading "
            "either, every submission fails to run (no grade) until you rebuild with --isolation "
            "auto (docs/gradescope.md).")
    except Exception as exc:                # noqa: BLE001 - reported; grading decides per submission
        log(f"isolation: the sandbox cannot start here ({' '.join(str(exc).split())[:500]})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m initkit.gradescope.run",
                                     description="Grade a Gradescope submission with initkit.")
    parser.add_argument("--root", default=os.environ.get(ROOT_ENV, DEFAULT_ROOT),
                        help=f"the autograder folder (default: ${ROOT_ENV} or {DEFAULT_ROOT})")
    parser.add_argument("--source", default=None,
                        help="the autograder zip's contents (default: ROOT/source)")
    parser.add_argument("--check", action="store_true",
                        help="check that the autograder can grade (setup.sh runs this), grade nothing")
    args = parser.parse_args(argv)
    if args.check:
        return check(args.source or Path(args.root) / "source")
    return run(args.root, args.source)


if __name__ == "__main__":
    sys.exit(main())
