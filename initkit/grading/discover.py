"""Step 1 of a batch (batch.py): discover the submissions, one Job per student.

`<submissions>/<student>/<assignment>/*.ipynb`, as nbgrader collect leaves them; the notebook of
each folder is picked by handin.py's rule. What is wrong with one student's folder is that
student's Job error, never the batch's; a folder not in this layout at all is the batch's
CourseError (`check_layout`), before anything is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from ..handin import HandIn, printable_id, read_hand_in
from ..submission import SubmissionError


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
