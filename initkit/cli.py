"""The `initkit` command: argument parsing only; each subcommand opens the course, makes one
call into initkit.api and prints what it returns. What the library logs (logging) is shown on
stderr as plain lines: its notes unless --quiet, warnings always.

Exit status (docs/architecture.md):
  0   done: every submission graded
  3   done, with errors: every submission has its row and outputs, some rows are errors
      (a broken upload, say); the summary counts them (`initkit demo` exits 0 here: its
      examples include a broken upload on purpose)
  1   the run could not be done (a sandbox that cannot start, an unwritable gradebook, ...)
  2   a usage or course error (one line naming what is missing and where)
  75  another run is writing into the same output folder (wait for it, or pass --wait)
  130 interrupted (finished results are kept; rerun to resume)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .course import DEFAULT_OUTPUT, CourseError
from .lock import RunLocked

EXIT_WITH_ERRORS = 3     # graded everyone; some rows are errors
EXIT_LOCKED = 75         # EX_TEMPFAIL: another run holds the output folder


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


ISOLATION_HELP = ("how student code is isolated: bubblewrap namespaces (refuses to grade where "
                  "bubblewrap cannot start), none (resource limits, timeouts and an unprivileged "
                  "uid only: for a machine or container that is itself the boundary), or auto "
                  "(bubblewrap where it starts, else none)")


def _add_isolation(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--isolation", choices=("bubblewrap", "none", "auto"), default=default,
                   help=f"{ISOLATION_HELP} (default: {default})")


def _add_batch_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=_positive_int, default=None,
                   help="worker processes (default: all cores)")
    p.add_argument("--timeout", type=_positive_float, default=None, metavar="S",
                   help="wall seconds allowed per submission")
    p.add_argument("--force", action="store_true", help="regrade unchanged submissions too")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_wait_option(p)


def _add_wait_option(p: argparse.ArgumentParser) -> None:
    """--wait, for every command that writes into an output folder (and so takes its lock)."""
    p.add_argument("--wait", action="store_true",
                   help="if another run is writing into the output folder, wait for it "
                   f"(default: say who it is and stop, exit status {EXIT_LOCKED})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="initkit", description="Grade the init_symmetry nbgrader assignment: a hidden, "
        "sandboxed autograder and fast, resumable batch grading.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("grade", help="grade every submission of an assignment in a course")
    _add_course_options(p)
    p.add_argument("--out", default=None, metavar="DIR",
                   help=f"output folder (default: COURSE_DIR/{DEFAULT_OUTPUT}/ASSIGNMENT)")
    p.add_argument("--submissions", default=None, metavar="DIR",
                   help="read DIR/<student>/<assignment>/*.ipynb instead of COURSE_DIR/submitted")
    p.add_argument("--db", default=None, metavar="URL",
                   help="gradebook database URL (default: the course's gradebook.db)")
    p.add_argument("--no-gradebook", action="store_true", help="do not write nbgrader's gradebook")
    p.add_argument("--student", action="append", default=None, metavar="NAME",
                   help="regrade only this student (repeatable); the others keep the last run's "
                   "rows, and the summary says whose score changed")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="grade on the dask.distributed cluster whose scheduler is at ADDRESS "
                   "(e.g. tcp://10.0.0.5:8786; needs initkit[dask] here and on the workers)")
    _add_batch_options(p)
    _add_isolation(p, "bubblewrap")
    p.set_defaults(func=_grade)

    p = sub.add_parser("demo", help="grade the example submissions shipped in examples/")
    _add_course_options(p)
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (default: demo-output/ASSIGNMENT in the current folder; with "
                   "several assignments and no --assignment, OUT/ASSIGNMENT for each)")
    _add_batch_options(p)
    _add_isolation(p, "auto")           # the course's own examples: trusted code
    p.set_defaults(func=_demo)

    p = sub.add_parser("release", help="regenerate release/ from source/ with nbgrader")
    _add_course_options(p)
    p.set_defaults(func=_release)

    p = sub.add_parser("feedback", help="write the feedback pages again with the grades and "
                       "comments given by hand in formgrader")
    _add_course_options(p)
    p.add_argument("--out", default=None, metavar="DIR",
                   help=f"the output folder of `initkit grade` (default: COURSE_DIR/{DEFAULT_OUTPUT}/ASSIGNMENT)")
    p.add_argument("--db", default=None, metavar="URL",
                   help="gradebook database URL (default: the course's gradebook.db)")
    _add_wait_option(p)
    p.set_defaults(func=_feedback)

    p = sub.add_parser("grade-one", help="grade one notebook and print a readable report")
    p.add_argument("path", metavar="PATH.ipynb")
    p.add_argument("--course", dest="course_dir", default=None, metavar="COURSE_DIR",
                   help="the course whose hidden tests grade it (default: the current folder)")
    p.add_argument("--assignment", default=None,
                   help="the assignment (default: the only one in the course's source/)")
    p.add_argument("--json", action="store_true", help="print the raw result as JSON")
    p.add_argument("--timeout", type=_positive_float, default=None, metavar="S",
                   help="wall seconds allowed for the submission")
    _add_isolation(p, "bubblewrap")
    p.set_defaults(func=_grade_one)

    p = sub.add_parser("gradescope", help="build a Gradescope autograder (zip) for an assignment")
    _add_course_options(p)
    p.add_argument("-o", "--out", default=None, metavar="ZIP",
                   help="the zip to write (default: autograder-ASSIGNMENT.zip)")
    p.add_argument("--visibility", default="visible",
                   choices=("visible", "hidden", "after_due_date", "after_published"),
                   help="when students see their results (default: visible)")
    p.add_argument("--late-policy", default=None, metavar="SPEC",
                   help="e.g. 10/day, 2/hour,max=50 or 10/day,grace=15 (default: none)")
    p.add_argument("--timeout", type=_positive_float, default=None, metavar="S",
                   help="wall seconds allowed per submission (default: initkit grade's limits)")
    p.add_argument("--isolation", choices=("bubblewrap", "none", "auto"), default="auto",
                   help="how student code is isolated in Gradescope's container: auto (bubblewrap "
                   "where it starts, else none: the container is the boundary), bubblewrap "
                   "(required: where it cannot start, submissions are not graded and Gradescope "
                   "reports an autograder failure you can rerun) or none (default: auto)")
    p.add_argument("--python", default="3.11", metavar="X.Y",
                   help="the Python version setup.sh installs (default: 3.11)")
    p.set_defaults(func=_gradescope)

    p = sub.add_parser("collect", help="bring an LMS's download of submissions into submitted/")
    sources = p.add_subparsers(dest="source", required=True, metavar="SOURCE")
    p = sources.add_parser("canvas", help="Canvas's Download Submissions zip into "
                           "submitted/<Canvas user ID>/ASSIGNMENT/ (docs/canvas.md)")
    p.add_argument("zip", metavar="SUBMISSIONS.zip", help="the zip Canvas downloaded "
                   "(the assignment's page > Download Submissions)")
    _add_course_options(p)
    p.add_argument("--force", action="store_true", help="replace student folders that already "
                   "hold other files for the assignment (default: stop and say whose)")
    p.add_argument("--wait", action="store_true", help="if another run is writing into "
                   "submitted/, wait for it (default: say who it is and stop, exit status "
                   f"{EXIT_LOCKED})")
    p.set_defaults(func=_collect_canvas)

    p = sub.add_parser("export", help="export the gradebook's totals for another system")
    formats = p.add_subparsers(dest="format", required=True, metavar="FORMAT")
    p = formats.add_parser("canvas", help="fill the assignment's column of a Canvas gradebook "
                           "export with the gradebook's totals, for Canvas's Grades > Import")
    _add_course_options(p)
    p.add_argument("--roster", required=True, metavar="FILE",
                   help="Canvas's gradebook export (Grades > Export > Export Entire Gradebook)")
    p.add_argument("-o", "--out", required=True, metavar="FILE", help="the file to import")
    p.add_argument("--match-column", default=None, metavar="TITLE",
                   help="the Canvas column holding the nbgrader student id (default: ID when the "
                   "students are named by Canvas user IDs, as `initkit collect canvas` names "
                   "them, else SIS Login ID)")
    p.add_argument("--column", default=None, metavar="TITLE", help="the assignment's Canvas "
                   "column (default: the one titled ASSIGNMENT or 'ASSIGNMENT (<id>)')")
    p.add_argument("--db", default=None, metavar="URL",
                   help="gradebook database URL (default: the course's gradebook.db)")
    p.set_defaults(func=_export_canvas)

    p = sub.add_parser("audit", help="how strong and how fair are the hidden tests: mutants and "
                       "alternative correct solutions graded for real (docs/audit.md)")
    _add_course_options(p)
    p.add_argument("--json", default=None, metavar="FILE", help="write the report as JSON")
    p.add_argument("--html", default=None, metavar="FILE", help="write the report as one HTML page")
    p.add_argument("--min-score", type=float, default=None, metavar="X",
                   help="exit 1 if the mutation score (0 to 1) is below X or a correct "
                   "alternative loses points (for CI)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help=f"grading cache (default: COURSE_DIR/{DEFAULT_OUTPUT}/ASSIGNMENT/audit)")
    p.add_argument("--workers", type=_positive_int, default=None,
                   help="worker processes (default: all cores)")
    p.add_argument("--force", action="store_true", help="regrade everything, ignoring the cache")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    _add_wait_option(p)
    p.set_defaults(func=_audit)

    p = sub.add_parser("check", help="is an assignment ready to hand out and grade: totals, "
                       "titles, criteria and hidden tests, a fresh release and examples, the audit's "
                       "alternatives (exit 1 on a problem)")
    _add_course_options(p)
    p.add_argument("--only", action="append", default=None, metavar="STEP",
                   choices=("totals", "titles", "criteria", "release", "examples", "audit"),
                   help="run only this step (repeatable; default: all)")
    p.set_defaults(func=_check)
    return parser


def _add_course_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("course_dir", nargs="?", default=None, metavar="COURSE_DIR",
                   help="nbgrader course directory (default: the current folder)")
    p.add_argument("--assignment", default=None,
                   help="the assignment (default: the only one in the course's source/)")


def _course(args):
    from .course import Course

    return Course.open(args.course_dir, args.assignment)


def _audit(args) -> int:
    from .api import audit
    from .audit.report import summary_lines

    report, ok = audit(_course(args), json_path=args.json, html_path=args.html,
                       min_score=args.min_score, out_dir=args.out, workers=args.workers,
                       force=args.force, progress=not args.quiet, wait=args.wait)
    print("\n".join(summary_lines(report)))
    if not ok:
        print(f"initkit audit: below --min-score {args.min_score:g} (score "
              f"{report['mutation_score']:.4f}, {report['false_fails']} false fail(s))", file=sys.stderr)
    return 0 if ok else 1


def _grade(args) -> int:
    from .api import grade
    from .reports.summary import format_summary

    gradebook = False if args.no_gradebook else args.db
    run = grade(_course(args), args.out, gradebook=gradebook, workers=args.workers,
                timeout=args.timeout, force=args.force, progress=not args.quiet,
                submissions_dir=args.submissions, wait=args.wait, scheduler=args.scheduler,
                students=set(args.student) if args.student else None,
                isolation=args.isolation)
    print(format_summary(run))
    # The tables' rows: a student whose reports could not be written is an error row too.
    return EXIT_WITH_ERRORS if run.errors else 0


def _demo(args) -> int:
    from .api import demo
    from .demo import feedback_hint
    from .reports.summary import format_summary

    from .course import Course, assignments

    # Without --assignment, every assignment of the course that has examples (each into its own
    # folder); one without them is named and skipped.
    names = [args.assignment] if args.assignment else assignments(args.course_dir or ".") or [None]
    if len(names) == 1:
        courses = [Course.open(args.course_dir, names[0])]
    else:
        courses = []
        for name in names:
            try:
                course = Course.open(args.course_dir, name)
            except CourseError as exc:          # e.g. an assignment still without hidden tests
                print(f"initkit demo: {name} skipped: {exc}", file=sys.stderr)
                continue
            if course.examples.is_dir():
                courses.append(course)
            else:
                print(f"initkit demo: {name} has no example submissions (python "
                      f"examples/{name}/make_examples.py builds them); skipped", file=sys.stderr)
        if not courses:
            raise CourseError(f"{args.course_dir or '.'}: no assignment with example submissions")
    for i, course in enumerate(courses):
        out = Path(args.out) / course.assignment if args.out and len(names) > 1 else args.out
        run = demo(course, out, workers=args.workers, force=args.force, progress=not args.quiet,
                   timeout=args.timeout, wait=args.wait, isolation=args.isolation)
        print(("\n" if i else "") + format_summary(run))
        print()
        print(feedback_hint(run))
    return 0


def _feedback(args) -> int:
    from .api import feedback

    pages = feedback(_course(args), args.out, gradebook=args.db, wait=args.wait)
    print(f"{len(pages)} feedback pages written, with the grades given by hand: "
          f"{Path(next(iter(pages.values()))).parent.parent.parent if pages else '-'}")
    return 0


def _release(args) -> int:
    from .api import release

    print(release(_course(args)))
    return 0


def _export_canvas(args) -> int:
    from .api import export_canvas
    from .export.canvas import report

    result = export_canvas(_course(args), args.roster, args.out, match_column=args.match_column,
                           column=args.column, gradebook=args.db)
    out, err = report(result)
    print("\n".join(out))
    if err:
        print("\n".join(err), file=sys.stderr)
    return EXIT_WITH_ERRORS if result.unmatched else 0


def _collect_canvas(args) -> int:
    from .api import collect_canvas
    from .lms.canvas_zip import report

    print("\n".join(report(collect_canvas(_course(args), args.zip, force=args.force,
                                          wait=args.wait))))
    return 0


def _grade_one(args) -> int:
    if not os.path.lexists(args.path):
        raise CourseError(f"{args.path}: no such file")
    from .api import grade_one
    from .reports.summary import format_result

    if args.assignment is None:
        args.assignment = _assignment_of(Path(args.path), args.course_dir)
    result = grade_one(_course(args), args.path, timeout=args.timeout, isolation=args.isolation)
    print(json.dumps(result, indent=1) if args.json else format_result(result))
    return 0 if result["status"] == "graded" else EXIT_WITH_ERRORS


def _assignment_of(notebook: Path, course_dir) -> str | None:
    """The assignment a notebook belongs to, when the course has several: the one named by its
    folder (submitted/<student>/<assignment>/) or by the notebook's own name; else None."""
    from .course import assignments

    names = assignments(course_dir or ".")
    for name in (notebook.resolve().parent.name, notebook.stem):
        if name in names:
            return name
    return None


def _gradescope(args) -> int:
    from .api import build_gradescope
    from .gradescope.build import describe

    print(describe(build_gradescope(_course(args), args.out, visibility=args.visibility,
                                    late_policy=args.late_policy, timeout=args.timeout,
                                    isolation=args.isolation, python=args.python)))
    return 0


def _check(args) -> int:
    from .api import check

    report = check(_course(args), steps=tuple(args.only) if args.only else None)
    print(f"initkit check {report.assignment}:")
    print("\n".join(f"  {line}" for line in report.lines))
    for problem in report.problems:
        print(f"  PROBLEM: {problem}")
    print("  ok" if report.ok else f"  {len(report.problems)} problem(s)")
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with _messages(quiet=getattr(args, "quiet", False)):
        return _run(args)


class _messages:
    """What initkit's modules log, as plain lines on stderr while a command runs: notes at INFO
    ("N submissions of A in DIR: ... to grade"), WARNING and above always (waiting for another
    run's lock, the traceback of a bug in the grader); `--quiet` leaves out the notes."""

    def __init__(self, quiet: bool):
        self.logger = logging.getLogger("initkit")
        self.level = logging.WARNING if quiet else logging.INFO
        self.handler = logging.StreamHandler(sys.stderr)
        self.handler.setFormatter(logging.Formatter("%(message)s"))

    def __enter__(self):
        self.before = self.logger.level, self.logger.propagate
        self.logger.setLevel(self.level)
        self.logger.propagate = False       # shown once, here, whatever the root logger does
        self.logger.addHandler(self.handler)

    def __exit__(self, *exc):
        self.logger.removeHandler(self.handler)
        self.logger.setLevel(self.before[0])
        self.logger.propagate = self.before[1]


def _run(args) -> int:
    """The command, with each failure turned into its exit status and one line on stderr."""
    try:
        return args.func(args)
    except CourseError as exc:
        print(f"initkit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except RunLocked as exc:
        print(f"initkit {args.command}: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except KeyboardInterrupt:
        print(f"initkit {args.command}: interrupted; finished results are kept, "
              "rerun to resume", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line for the user; INITKIT_DEBUG=1 shows the traceback
        if os.environ.get("INITKIT_DEBUG"):
            raise
        message = str(exc) or type(exc).__name__
        if not isinstance(exc, (OSError, ValueError, RuntimeError)):
            message = f"{type(exc).__name__}: {message}"
        print(f"initkit {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
