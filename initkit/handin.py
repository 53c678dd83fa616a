"""What a student handed in: which notebook is theirs (one rule), read without leaving their folder.

The rule, used by every entry point (`initkit grade`, `grade-one`, and what builds on them):
  1. the notebook named like the release's (e.g. init_symmetry.ipynb);
  2. otherwise, if the folder holds exactly one other notebook (a renamed upload such as
     `init_symmetry (1).ipynb`), that one, and the feedback says which file was graded;
  3. otherwise a clear error naming the files found.
Hidden files (a leading dot) and `.ipynb_checkpoints/` are ignored. The picked file is the only
candidate: if it cannot be graded (a link, a FIFO, a broken notebook) that is the error, even
beside a regular notebook, and the feedback never also says "Graded ...".

Nothing outside `<submissions>/<student>/<assignment>/` is read: each folder on the way and the
notebook itself are opened relative to the one before with O_NOFOLLOW, and the opened file's
descriptor must be a regular file. A symbolic link, a FIFO, a device or a directory with a
notebook's name is that student's error, never followed and never waited on; a link swapped in
between the listing and the open is caught by the open itself.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .submission import MAX_NOTEBOOK_BYTES, CodeCell, SubmissionError, parse

SUFFIX = ".ipynb"
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)
TIMESTAMP = "timestamp.txt"     # what `nbgrader collect` and `submit` leave beside the notebook
SECRET = "submission_secret.txt"  # nbgrader's key for handing feedback back through the exchange
NOTE_FILE = "initkit_note.txt"  # a note for the student's results, e.g. Canvas's LATE (lms/canvas_zip.py)
MAX_TIMESTAMP_BYTES = 1024


@dataclass(frozen=True)
class HandIn:
    """One student's notebook as read by the trusted side: the bytes every later stage uses."""

    student: str
    name: str                     # the notebook's file name in the student's folder
    data: bytes = field(repr=False)
    note: str | None = None       # shown in the feedback, e.g. which file was graded and why
    timestamp: str | None = None  # the text of timestamp.txt, if the folder has one
    path: str = ""                # where it was read from, to name it in messages
    secret: str | None = None     # submission_secret.txt, if the folder has one
    remark: str | None = None     # initkit_note.txt, if the folder has one: a note in the results
                                  # whether or not the notebook can be graded (e.g. "LATE")

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def printable_id(name: str) -> str:
    """A file or folder name as text: bytes that are not UTF-8 (os.listdir keeps them as
    surrogates, which no CSV, JSON or database can store) are shown as backslash escapes."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


GRADED = "Graded "       # how pick_notebook's note begins: it says which file was graded


def says_which_file_was_graded(note: str) -> bool:
    """True for pick_notebook's note, which a row that is not graded must not carry."""
    return str(note).startswith(GRADED)


def pick_notebook(names: list[str], expected: str, where: str) -> tuple[str, str | None]:
    """(the file name to grade, a note for the student or None) among a folder's entry names.
    Raises SubmissionError naming the files found when the rule picks none.

    The note says the file was graded: it goes into the result only if the file then is (read,
    parsed, graded); a picked file that turns out to be a link, a FIFO or a broken notebook is
    an error row naming it, with no note (grading.result.error_result)."""
    visible = sorted(n for n in names if not n.startswith("."))
    notebooks = [n for n in visible if n.lower().endswith(SUFFIX)]
    shown = printable_id
    if expected in notebooks:
        others = [n for n in notebooks if n != expected]
        note = (f"{GRADED}{expected}; also in your folder and not graded: "
                f"{', '.join(map(shown, others))}." if others else None)
        return expected, note
    if len(notebooks) == 1:
        return notebooks[0], (f"{GRADED}{shown(notebooks[0])}: it is the only notebook in your "
                              f"folder (the assignment's notebook is named {expected}).")
    if not notebooks:
        found = f" (found: {_list([shown(n) for n in visible])})" if visible else " (the folder is empty)"
        raise SubmissionError(where, f"no notebook (.ipynb) in the submission folder{found}")
    raise SubmissionError(where, f"{len(notebooks)} notebooks ({_list([shown(n) for n in notebooks])}) and none named "
                                 f"{expected}: rename the one to grade to {expected}")


def _list(names: list[str], most: int = 8) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


def _open(name: str, flags: int, dir_fd: int | None, shown: Path) -> int:
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK) or (
                flags & os.O_DIRECTORY and os.path.islink(shown)):
            raise SubmissionError(shown, "is a symbolic link; only files inside the student's "
                                         "folder are graded (upload the notebook itself)") from None
        if exc.errno == errno.ENOTDIR:
            raise SubmissionError(shown, "is not a folder") from None
        if exc.errno == errno.ENOENT:
            raise SubmissionError(shown, "file not found") from None
        raise SubmissionError(shown, f"cannot open ({exc.strerror or exc})") from None


def read_regular_file(fd: int, shown: Path, limit: int = MAX_NOTEBOOK_BYTES) -> bytes:
    """The content of the open file `fd`, which must be a regular file of at most `limit` bytes."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise SubmissionError(shown, f"is {_kind(info.st_mode)}, not a regular file")
    if info.st_size > limit:
        raise SubmissionError(shown, f"file too large ({info.st_size / 1e6:.1f} MB; the limit is "
                                     f"{limit / 1e6:.3g} MB): clear the outputs and resubmit")
    chunks, size = [], 0
    while size <= limit:
        chunk = os.read(fd, min(1 << 20, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:     # it grew while we read it
        raise SubmissionError(shown, f"file too large (more than {limit / 1e6:.3g} MB)")
    return b"".join(chunks)


def _small_text(folder_fd: int, names: list[str], folder: Path, name: str,
                strip: bool = True) -> str | None:
    """A small text file beside the notebook (None without one), read with the notebook's guards."""
    if name not in names:
        return None
    fd = _open(name, _FILE_FLAGS, folder_fd, folder / name)
    try:
        raw = read_regular_file(fd, folder / name, MAX_TIMESTAMP_BYTES)
    finally:
        os.close(fd)
    try:
        text = raw.decode("utf-8")
        return (text.strip() if strip else text) or None
    except UnicodeDecodeError:
        raise SubmissionError(folder / name, "is not UTF-8 text") from None


def read_hand_in(root: Path, student: str, assignment: str, expected: str,
                 display: str | None = None) -> HandIn:
    """The notebook of `root/student/assignment/`, picked by the rule and read by descriptors.
    `display`: the student id to record (default: `student`). Raises SubmissionError."""
    root = Path(root)
    fds: list[int] = []
    try:
        fds.append(_open(str(root), os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0),
                         None, root))
        fds.append(_open(student, _DIR_FLAGS, fds[-1], root / student))
        folder = root / student / assignment
        fds.append(_open(assignment, _DIR_FLAGS, fds[-1], folder))
        try:
            names = os.listdir(fds[-1])
        except OSError as exc:
            raise SubmissionError(folder, f"cannot list the folder ({exc.strerror or exc})") from None
        name, note = pick_notebook(names, expected, str(folder))
        stamp = _small_text(fds[-1], names, folder, TIMESTAMP)
        secret = _small_text(fds[-1], names, folder, SECRET, strip=False)   # copied byte for byte
        remark = _small_text(fds[-1], names, folder, NOTE_FILE)
        fds.append(_open(name, _FILE_FLAGS, fds[-1], folder / name))
        data = read_regular_file(fds[-1], folder / name)
    finally:
        for fd in reversed(fds):
            os.close(fd)
    return HandIn(display or student, printable_id(name), data, note, stamp,
                  str(folder / printable_id(name)), secret, remark)


def read_notebook_file(path: str | os.PathLike, student: str) -> HandIn:
    """One notebook named by the grader (`initkit grade-one`): the same checks on the file itself
    (a symbolic link is refused too: it may point at the course's solutions)."""
    path = Path(path)
    fd = _open(str(path), _FILE_FLAGS, None, path)
    try:
        return HandIn(student, path.name, read_regular_file(fd, path), path=str(path))
    finally:
        os.close(fd)


def read_submission(path: str | os.PathLike) -> list[CodeCell]:
    """The code cells grading runs of the notebook at `path` (read and parsed with every check)."""
    return parse(read_notebook_file(path, "").data, path).cells
