"""`initkit collect canvas`: Canvas's "Download Submissions" zip, into nbgrader's layout.

Canvas's zip is flat: each file a student handed in is named

    <login>_<user id>_<submission id>_<original name>        doejane_12345_67890_init_symmetry.ipynb
    <login>_LATE_<user id>_<submission id>_<original name>   doejane_LATE_12345_67890_init_symmetry.ipynb

and a file uploaded again under the same name gets `-1`, `-2`, ... before its extension
(`..._init_symmetry-1.ipynb`). Each such file goes to `<submissions>/<user id>/<assignment>/<original
name>` (the `-N` dropped: at most three digits, not starting with 0, so `data-2024.csv` keeps its
name), so the students are named by their Canvas user ID (the roster's `ID` column, which `initkit
export canvas` then matches). A student marked LATE gets `initkit_note.txt` beside the files
(handin.NOTE_FILE): the grader puts its text into the student's notes and feedback page. The
download carries no submission time, so there is no `timestamp.txt` and no late penalty.

Nothing outside `<submissions>/` is written, and nothing at all unless the whole zip is good:
  - a member whose name leaves the folder (`../`, an absolute path), a symbolic link, an encrypted
    member, one larger than MAX_FILE_BYTES (declared or actually), or a zip over MAX_TOTAL_BYTES
    or MAX_MEMBERS, refuses the whole zip (CourseError naming the member);
  - files not named as Canvas names them, folders, and names the grader reserves are listed
    (`CanvasCollect.skipped`), not written; a zip with no file named as Canvas names them is
    refused (another zip, not Canvas's download);
  - the files are extracted into a hidden staging folder inside `<submissions>/`, then each
    student's folder is moved into place; a student folder that already holds other files for the
    assignment refuses the whole collect unless `force`, which replaces that folder by the
    download's files (what it held before is reported). Identical folders are left alone.

`read_canvas_zip` checks a zip and says what it would write (no writes); `collect` writes it,
under the lock of `<submissions>/` taken by the caller (initkit.api.collect_canvas).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from ..course import CourseError
from ..handin import NOTE_FILE, SECRET, TIMESTAMP
from ..submission import MAX_NOTEBOOK_BYTES

MAX_FILE_BYTES = MAX_NOTEBOOK_BYTES       # per file written (a notebook over it cannot be graded)
MAX_TOTAL_BYTES = 4 * 1024 ** 3           # all the files written, together
MAX_MEMBERS = 100_000
STAGING_PREFIX = ".initkit-collect-"      # hidden: discovery never reads it
LATE_NOTE = ("Submitted late, as marked by Canvas (its download gives no submission time, so no "
             "late penalty was computed from it).")

_CANVAS_NAME = re.compile(r"(?P<login>[^_/\\]+)_(?:(?P<late>LATE)_)?(?P<user>\d+)_(?P<submission>\d+)_"
                          r"(?P<name>[^/\\]+)", re.DOTALL)
_COPY = re.compile(r"(?P<stem>.+)-(?P<n>[1-9]\d{0,2})(?P<ext>\.[^.]+)?", re.DOTALL)
_RESERVED = (NOTE_FILE, TIMESTAMP, SECRET)


@dataclass(frozen=True)
class CanvasName:
    """What Canvas's name of one file says."""

    login: str
    user_id: str
    submission_id: str
    late: bool
    name: str                 # the file's original name (Canvas's -N dropped)
    copy: int                 # Canvas's -N (0: none)


def canvas_name(member: str) -> CanvasName | None:
    """The parts of a file name as Canvas's download names files, or None if it is not one."""
    m = _CANVAS_NAME.fullmatch(member)
    if m is None:
        return None
    name, copy = m["name"], 0
    c = _COPY.fullmatch(name)
    if c is not None:
        name, copy = c["stem"] + (c["ext"] or ""), int(c["n"])
    return CanvasName(m["login"], m["user"], m["submission"], bool(m["late"]), name, copy)


@dataclass
class StudentFiles:
    """One student's files in the download, and what collecting them did."""

    user_id: str
    login: str
    late: bool = False
    files: dict[str, str] = field(default_factory=dict)   # name written -> member of the zip
    outcome: str = ""               # "new", "unchanged" or "replaced" (after collect)
    previous: list[str] = field(default_factory=list)      # what a replaced folder held


@dataclass
class CanvasCollect:
    """What `read_canvas_zip` found and `collect` did."""

    zip: Path
    folder: Path                    # the submissions folder (the course's submitted/)
    assignment: str
    students: dict[str, StudentFiles] = field(default_factory=dict)    # by user id, sorted
    skipped: list[tuple[str, str]] = field(default_factory=list)       # (member, why not written)
    sizes: dict[str, int] = field(default_factory=dict, repr=False)    # member -> declared size

    def by_outcome(self, outcome: str) -> list[StudentFiles]:
        return [s for s in self.students.values() if s.outcome == outcome]


def _refuse(zip_path: Path, member: str, problem: str) -> CourseError:
    return CourseError(f"{zip_path}: member {member!r} {problem}; nothing was written")


def _mb(n: int) -> str:
    return f"{n / 2 ** 20:.1f} MB" if n >= 2 ** 20 else f"{n} bytes"


def read_canvas_zip(zip_path: str | os.PathLike, folder: str | os.PathLike, assignment: str, *,
                    max_file: int = MAX_FILE_BYTES, max_total: int = MAX_TOTAL_BYTES) -> CanvasCollect:
    """Check Canvas's zip at `zip_path` and say which file goes where under `folder` (nothing is
    written). Raises CourseError for a file that is not a zip, or one the module docstring says
    is refused."""
    zip_path = Path(zip_path)
    plan = CanvasCollect(zip_path, Path(folder), assignment)
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = archive.infolist()
    except FileNotFoundError:
        raise CourseError(f"{zip_path}: no such file") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise CourseError(f"{zip_path}: not a zip file Canvas made ({exc}); download it again "
                          "(Assignment > Download Submissions)") from None
    if len(members) > MAX_MEMBERS:
        raise CourseError(f"{zip_path}: {len(members)} members, over the limit of {MAX_MEMBERS}; "
                          "not a Canvas download, nothing was written")
    total = 0
    chosen: dict[tuple[str, str], tuple[CanvasName, str]] = {}   # (user, name) -> (parsed, member)
    for info in members:
        member = info.filename
        parts = re.split(r"[/\\]", member)
        if member.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", member) or ".." in parts:
            raise _refuse(zip_path, member, "would be written outside the folder (an absolute "
                          "path or '..'): not a Canvas download")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise _refuse(zip_path, member, "is a symbolic link: not a Canvas download")
        if info.is_dir() or len([p for p in parts if p]) > 1:
            plan.skipped.append((member, "a folder, or in one (Canvas's download has none)"))
            continue
        parsed = canvas_name(member)
        if parsed is None:
            plan.skipped.append((member, "not named as Canvas names submissions "
                                         "(<login>_[LATE_]<user id>_<submission id>_<file name>)"))
            continue
        reserved = parsed.name in _RESERVED or parsed.name.startswith(".")
        if reserved or len(os.fsencode(parsed.name)) > 255 or "\0" in parsed.name:
            why = (f"its name {parsed.name!r} is reserved (hidden, or a file the grader reads)"
                   if reserved else "its name is too long or not a file name")
            plan.skipped.append((member, why))
            continue
        if info.flag_bits & 0x1:
            raise _refuse(zip_path, member, "is encrypted")
        if info.file_size > max_file:
            raise _refuse(zip_path, member, f"is {_mb(info.file_size)} uncompressed, over the "
                          f"limit of {_mb(max_file)} per file (remove it from the zip, e.g. "
                          f"zip -d {zip_path.name} '{member}', to collect the others)")
        total += info.file_size
        if total > max_total:
            raise _refuse(zip_path, member, f"brings the files to more than {_mb(max_total)} "
                          "uncompressed, over the limit for one download")
        plan.sizes[member] = info.file_size
        key = (parsed.user_id, parsed.name)
        if key in chosen:
            kept, dropped = sorted([chosen[key], (parsed, member)], key=lambda pm: pm[0].copy)[::-1]
            plan.skipped.append((dropped[1], f"an older upload of {parsed.name} than {kept[1]}"))
            chosen[key] = kept
        else:
            chosen[key] = (parsed, member)
    if not chosen:
        listed = ", ".join(m for m, _ in plan.skipped[:3]) or "it is empty"
        raise CourseError(f"{zip_path}: no file in it is named as Canvas names submissions "
                          "(<login>_[LATE_]<user id>_<submission id>_<file name>; found: "
                          f"{listed}{' ...' if len(plan.skipped) > 3 else ''}): not Canvas's "
                          "Download Submissions zip? nothing was written")
    for (user, name), (parsed, member) in sorted(chosen.items()):
        student = plan.students.setdefault(user, StudentFiles(user, parsed.login))
        student.late = student.late or parsed.late
        student.files[name] = member
    return plan


def collect(plan: CanvasCollect, *, force: bool = False) -> CanvasCollect:
    """Write `plan` (read_canvas_zip's) into its folder; returns it with each student's outcome.
    The caller holds the folder's lock. Raises CourseError, with nothing written, for a member
    that turns out larger than it said or corrupt, or (without `force`) student folders that
    already hold other files for the assignment."""
    folder = plan.folder
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(STAGING_PREFIX + "*"):      # left by a collect that was killed
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder))
    try:
        _extract(plan, staging)
        conflicts = []
        for user, student in plan.students.items():
            target = folder / user / plan.assignment
            for path in (folder / user, target):
                if os.path.lexists(path) and (os.path.islink(path) or not path.is_dir()):
                    what = "a symbolic link" if os.path.islink(path) else "not a folder"
                    raise CourseError(f"{path}: {what}; nothing was written (move it away and "
                                      "collect again)")
            if not target.exists():
                student.outcome = "new"
            elif _same(target, staging / user):
                student.outcome = "unchanged"
            else:
                student.outcome = "replaced"
                student.previous = sorted(n for n in os.listdir(target))
                conflicts.append(user)
        if conflicts and not force:
            shown = ", ".join(f"{u} (has {', '.join(plan.students[u].previous) or 'nothing'})"
                              for u in conflicts[:3])
            more = f" and {len(conflicts) - 3} more" if len(conflicts) > 3 else ""
            raise CourseError(f"{folder}: {len(conflicts)} student folder(s) already hold other "
                              f"files for {plan.assignment}: {shown}{more}; nothing was written "
                              "(pass --force to replace them with the download's files)")
        old = staging / ".replaced"
        old.mkdir()
        for user, student in plan.students.items():
            target = folder / user / plan.assignment
            if student.outcome == "unchanged":
                continue
            if student.outcome == "replaced":
                os.rename(target, old / user)
            target.parent.mkdir(exist_ok=True)
            os.rename(staging / user, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return plan


def _extract(plan: CanvasCollect, staging: Path) -> None:
    """Each student's files into `staging/<user id>/`, checking each member's real size."""
    with zipfile.ZipFile(plan.zip) as archive:
        for user, student in plan.students.items():
            into = staging / user
            into.mkdir()
            for name, member in student.files.items():
                declared = plan.sizes[member]
                written = 0
                try:
                    with archive.open(member) as src, open(into / name, "xb") as dst:
                        while chunk := src.read(1 << 20):
                            written += len(chunk)
                            if written > declared:
                                raise _refuse(plan.zip, member, f"holds more than the {declared} "
                                              "bytes it declares (a zip bomb?)")
                            dst.write(chunk)
                except (zipfile.BadZipFile, EOFError, zlib.error, RuntimeError) as exc:  # CRC, truncated
                    raise _refuse(plan.zip, member, f"cannot be read ({exc})") from None
            if student.late:
                (into / NOTE_FILE).write_text(LATE_NOTE + "\n", encoding="utf-8")


def _same(existing: Path, staged: Path) -> bool:
    """True if the folder `existing` holds exactly the staged files (hidden entries aside), each
    a regular file with the same bytes (links are never followed)."""
    names = sorted(n for n in os.listdir(existing) if not n.startswith("."))
    if names != sorted(os.listdir(staged)):
        return False
    for name in names:
        info = os.lstat(existing / name)
        new = staged / name
        if not stat.S_ISREG(info.st_mode) or info.st_size != new.stat().st_size:
            return False
        fd = os.open(existing / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            if f.read() != new.read_bytes():
                return False
    return True


def report(result: CanvasCollect) -> list[str]:
    """What the command line prints."""
    students = result.students.values()
    lines = [f"{result.folder}: {len(result.students)} student(s) of {result.assignment} from "
             f"{result.zip.name}, named by Canvas user ID: {len(result.by_outcome('new'))} new, "
             f"{len(result.by_outcome('unchanged'))} unchanged, "
             f"{len(result.by_outcome('replaced'))} replaced"]
    for s in result.by_outcome("replaced"):
        lines.append(f"  replaced {s.user_id} ({s.login}): had {', '.join(s.previous) or 'nothing'}; "
                     f"now {', '.join(s.files)}")
    late = [s for s in students if s.late]
    if late:
        lines.append(f"  late (Canvas's LATE; a note in their feedback, {NOTE_FILE}): "
                     + ", ".join(f"{s.user_id} ({s.login})" for s in late))
    if result.skipped:
        lines.append(f"{len(result.skipped)} member(s) of the zip not written:")
        lines += [f"  {member}: {why}" for member, why in result.skipped]
    lines.append(f"Grade them: initkit grade --assignment {result.assignment}; then "
                 "initkit export canvas matches these students by the roster's ID column.")
    return lines
