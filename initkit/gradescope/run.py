"""What a Gradescope autograder runs for each submission (`python -m initkit.gradescope.run`,
called by the zip's run_autograder): find the student's notebook in <root>/submission, grade it
with the course in <root>/source/course, write <root>/results/results.json.

results.json is ALWAYS written: no notebook, several notebooks, a broken notebook, a course that
cannot be loaded, a sandbox that cannot start or any other exception gives a score of 0 and an
explanation for the student, never Gradescope's "autograder failed". Details for the instructor
(tracebacks, the grader's report) go to stdout and stderr, which Gradescope shows to instructors
only (results.json sets stdout_visibility "hidden").

Isolation: the kit's sandbox is bubblewrap. Gradescope's containers may refuse the namespaces
bubblewrap needs; then (unless the autograder was built with --require-bubblewrap) the
submission is graded with isolation "none" (docs/sandbox.md: student code runs as an unprivileged
uid with every resource limit, and the container is the boundary), and the log says so.

`--check` (run by setup.sh while Gradescope builds the image) loads the configuration, the course,
its hidden tests and reference, and tries the sandbox: a broken autograder fails the build with a
readable message instead of failing every student.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
import traceback
from pathlib import Path

CONFIG = "gradescope.json"        # in the zip's root (/autograder/source): what the build chose
COURSE = "course"                 # in the zip's root: the course's grading bundle
ROOT_ENV = "INITKIT_GRADESCOPE_ROOT"
DEFAULT_ROOT = "/autograder"
_IGNORED_FOLDERS = {"__MACOSX", ".ipynb_checkpoints"}

INTERNAL_ERROR = ("The autograder could not grade this submission because of a problem on our "
                  "side, not in your notebook (score 0 for now). Your instructor can see the "
                  "details in the autograder's log; please let them know.")


class NotGradable(Exception):
    """What the student uploaded cannot be graded; str() is the message for the student."""


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


def open_host(limits, sandbox: str):
    """(SandboxHost, a note for the log or None): bubblewrap, or isolation "none" where
    bubblewrap cannot start (unless `sandbox` is "bubblewrap": then the error stands)."""
    from ..sandbox import SandboxHost, SandboxStartError

    if os.environ.get("INITKIT_SANDBOX", "auto").strip().lower() != "auto":
        return SandboxHost(limits), None
    try:
        return SandboxHost(limits), None
    except SandboxStartError as exc:
        if sandbox == "bubblewrap":
            raise
        reason = " ".join(str(exc).split())
    os.environ["INITKIT_SANDBOX"] = "none"
    return SandboxHost(limits), (
        f"bubblewrap cannot start in this container ({reason[:500]}); grading with isolation "
        "'none': the container is the boundary (docs/gradescope.md)")


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
    from ..grading.grade import grade_hand_in
    from ..grading.result import error_result
    from ..handin import read_notebook_file
    from ..reports.summary import format_result
    from ..submission import SubmissionError
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
    limits = make_limits(config.get("timeout"))
    try:
        hand_in = dataclasses.replace(read_notebook_file(path, "submission"), note=note)
    except SubmissionError as exc:
        result = error_result("submission", path.name, course.criteria, str(exc),
                              notes=[note] if note else [])
    else:
        host, why = open_host(limits, config.get("sandbox", "auto"))
        if why:
            log(why)
        try:
            result = grade_hand_in(hand_in, course, host=host, limits=limits)
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
    """Grade <root>/submission, write <root>/results/results.json. 0 when results were written."""
    root = Path(root)
    source = Path(source) if source is not None else root / "source"
    out = root / "results" / "results.json"
    state = {"started": time.monotonic(), "config": {}, "course": None}
    try:
        results = grade_submission(root, source, state)
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
    try:
        host, why = open_host(make_limits(config.get("timeout")), config.get("sandbox", "auto"))
        log(f"sandbox: {host.isolation}" + (f" ({why})" if why else ""))
        host.close()
    except Exception as exc:                # noqa: BLE001 - reported; grading decides per submission
        log(f"sandbox: cannot start here ({' '.join(str(exc).split())[:500]})")
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
