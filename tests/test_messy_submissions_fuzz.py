"""Messy submissions through the whole pipeline, reports included (Hypothesis).

Each example builds a submissions folder: one or two correct submissions (some with stray copies
beside them, a renamed notebook or an odd folder name) among broken ones (truncated or corrupted
notebooks, wrong JSON types, missing keys, deep nesting, huge files, links, FIFOs, directories
with a notebook's name, folder names that are not text), runs `initkit.api.grade` on it, and
checks every output against what the case should give:

  * api.grade returns, and every student folder with the assignment has exactly one row;
  * a broken one is an error row, score 0, whose message names the student's file or folder and
    says what is wrong (no traceback, no "internal grading error");
  * a correct one gets exactly what it gets when graded alone: its grades.csv row, its
    grades.json result (but "duration") and its feedback page, byte for byte;
  * nothing that points at the course's source notebook scores above 0;
  * the summary counts the errors; every row has a feedback page without grader paths; the
    gradebook (when written) has every row's scores.

The notebooks are built here (trusted), so most examples grade in-process (InProcessStudent, no
sandbox) with one shared copy of the real course, its hidden tests collected once before the
workers fork. The command-line tests at the end use the real sandbox.

The bugs this found are tests of their own at the end ("found by fuzzing"): a notebook file name
that is not UTF-8, notebook names over ~235 bytes, integers of more than 4300 digits, out-of-range
timestamps, a carriage return in a folder name, two folder names shown alike, notebook metadata
that is not an object.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import html
import json
import os
import shutil
import signal
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fakes import CRITERIA, ASSIGNMENT, REPO, copy_real_course
from initkit import api, cli
from initkit.course import Course
from initkit.grading.grade import grade_hand_in
from initkit.handin import HandIn
from initkit.reports.summary import format_summary
from initkit.sandbox.inprocess import InProcessStudent
from initkit.submission import MAX_JSON_DEPTH, MAX_NOTEBOOK_BYTES

NOTEBOOK = f"{ASSIGNMENT}.ipynb"
NB = f"{ASSIGNMENT}/{NOTEBOOK}"          # the notebook, relative to the student's folder
HANG_LIMIT = 120                          # seconds: a batch taking longer is stuck on something


def fuzz(max_examples: int) -> settings:
    return settings(max_examples=max_examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


def in_process_grade(hand_in, course, *, host=None, limits=None):
    """The real grader without the sandbox (the notebooks here are ours)."""
    return grade_hand_in(hand_in, course, student_factory=InProcessStudent)


@functools.cache
def correct() -> bytes:
    """A correct submission: the release notebook with the instructor's answers."""
    from initkit.solutions import make_submission

    return nbformat.writes(make_submission(Course.open(REPO, ASSIGNMENT))).encode()


def printable(name: str) -> str:
    """The student id a folder name should get: bytes that are not UTF-8 as backslash escapes
    (written here, not imported: it is part of what is checked)."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


# --------------------------------------------------------------------------- cases

@dataclass(frozen=True)
class Case:
    """One student folder: how to build it and what the pipeline must make of it.

    layout  ops applied in order, paths relative to `<submissions>/<student>` ("" is the
            student's folder itself): ("file", path, bytes), ("fifo", path), ("dir", path),
            ("link", path, target); a target "{source_notebook}", "{source_assignment}" or
            "{source}" is the course's own source notebook, its folder, or source/
    expect  "correct": graded, full marks, the outputs it gets alone; "error"; "none": no row;
            "either": "correct" (like `alone`) or "error" (with `words`), whichever the row is
    words   an error's message says each of these (case-insensitive)
    note    a correct one: None, no note; else words its one note says
    alone   a correct one: the layout graded alone to compare with (default: its own layout)
    source  it leads to the course's source notebook: it must never score above 0
    """

    label: str
    layout: tuple
    expect: str
    words: tuple[str, ...] = ()
    note: tuple[str, ...] | None = None
    alone: tuple | None = None
    source: bool = False

    def _repr_pretty_(self, printer, cycle) -> None:     # Hypothesis's printer
        printer.text(repr(self))

    def __repr__(self) -> str:       # what a failing example shows: no megabytes of notebook
        ops = [(op, path, f"<{len(args[0]):,} bytes>" if args and isinstance(args[0], bytes)
                else (args[0] if args else None)) for op, path, *args in self.layout]
        return f"Case({self.label!r}, expect={self.expect!r}, layout={ops!r})"


def plain_layout() -> tuple:
    return (("file", NB, correct()),)


def broken(label: str, data: bytes, *words: str) -> Case:
    return Case(label, (("file", NB, data),), "error", tuple(w.lower() for w in words))


def harmless(label: str, data: bytes) -> Case:
    """Junk where grading does not look: graded exactly like the untouched notebook."""
    return Case(label, (("file", NB, data),), "correct", alone=plain_layout())


def failed(label: str, layout: tuple, *words: str, source: bool = False) -> Case:
    return Case(label, layout, "error", tuple(w.lower() for w in words), source=source)


def with_placeholder(edit) -> bytes:
    """The correct notebook, edited as JSON; the text "@@RAW@@" (a JSON string) is then
    replaced by raw JSON text (what json.dumps cannot write, e.g. 100,000 levels)."""
    nb = json.loads(correct())
    raw = edit(nb)
    text = json.dumps(nb, ensure_ascii=False)
    if raw is not None:
        text = text.replace('"@@RAW@@"', raw, 1)
    return text.encode()


def padded(size: int) -> bytes:
    """The correct notebook followed by spaces (still valid JSON), `size` bytes in all."""
    return correct() + b" " * (size - len(correct()))


def _code_cell(nb) -> int:
    return next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code")


def _markdown_cell(nb) -> int:
    return next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "markdown")


# ---- broken notebooks, derived from the correct one

@st.composite
def truncated(draw) -> Case:
    data = correct()
    cut = draw(st.integers(0, len(data) - 1))
    head = data[:cut]
    if not head.strip():
        return broken(f"truncated at byte {cut}", head, "the file is empty")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:       # cut inside a character
        return broken(f"truncated at byte {cut}", head, "not utf-8")
    return broken(f"truncated at byte {cut}", head, "not valid json", "truncated")


@st.composite
def nested(draw) -> Case:
    depth = draw(st.one_of(st.integers(55, 70), st.just(100_000)))
    kind = draw(st.sampled_from(["lists", "objects"]))
    raw = "[" * depth + "]" * depth if kind == "lists" else '{"a": ' * depth + "0" + "}" * depth
    where = draw(st.sampled_from(["notebook metadata", "cell outputs"]))
    if where == "notebook metadata":
        above = 2            # the notebook is level 1, its metadata 2: the value starts at 3
        data = with_placeholder(lambda nb: nb["metadata"].update(deep="@@RAW@@") or raw)
    else:
        above = 6            # ..., cells 2, cell 3, outputs 4, the output 5, its data 6
        data = with_placeholder(lambda nb: nb["cells"][_code_cell(nb)].update(outputs=[
            {"output_type": "display_data", "metadata": {}, "data": {"application/json": "@@RAW@@"}}])
            or raw)
    label = f"{depth} levels of {kind} in the {where}"
    if above + depth > MAX_JSON_DEPTH:
        return broken(label, data, f"nested more than {MAX_JSON_DEPTH} deep")
    return harmless(label, data)


@st.composite
def wrong_types(draw) -> Case:
    nb = json.loads(correct())
    n = len(nb["cells"])
    what = draw(st.sampled_from(["source", "cells", "cell metadata", "cell", "cell_type",
                                 "nbformat", "notebook"]))
    i = draw(st.integers(0, n - 1))
    if what == "source":
        nb["cells"][i]["source"] = draw(st.one_of(
            st.integers(), st.none(), st.booleans(), st.floats(allow_nan=False),
            st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
            st.lists(st.integers(), min_size=1, max_size=3),
            st.lists(st.one_of(st.text(max_size=3), st.integers()), min_size=1, max_size=3)
              .filter(lambda xs: not all(isinstance(x, str) for x in xs))))
        return broken(f"cell {i}'s source is {type(nb['cells'][i]['source']).__name__}",
                      json.dumps(nb).encode(), f"cell {i} is malformed", "source is not text")
    if what == "cells":
        nb["cells"] = draw(st.sampled_from([{str(k): c for k, c in enumerate(nb["cells"])}, "cells", 3]))
        return broken(f"cells is {type(nb['cells']).__name__}", json.dumps(nb).encode(),
                      "'cells' is missing or not a list")
    if what == "cell metadata":
        nb["cells"][i]["metadata"] = draw(st.sampled_from([[], [{"nbgrader": {}}], "meta", 0]))
        return broken(f"cell {i}'s metadata is not an object", json.dumps(nb).encode(),
                      f"cell {i} is malformed", "metadata is not an object")
    if what == "cell":
        nb["cells"][i] = draw(st.one_of(st.text(max_size=5), st.integers(), st.none(),
                                        st.lists(st.integers(), max_size=2)))
        return broken(f"cell {i} is not an object", json.dumps(nb).encode(),
                      f"cell {i} is malformed", "no cell_type")
    if what == "cell_type":
        nb["cells"][i]["cell_type"] = draw(st.sampled_from([1, None, ["code"], {"code": 1}, True]))
        return broken(f"cell {i}'s cell_type is not a string", json.dumps(nb).encode(),
                      f"cell {i} is malformed", "no cell_type")
    if what == "nbformat":
        nb["nbformat"] = draw(st.sampled_from(["4", 4.0, True, False, None, [4], {"major": 4}, "4.5"]))
        return broken(f"nbformat is {nb['nbformat']!r}", json.dumps(nb).encode(),
                      "missing or invalid 'nbformat' version")
    whole = draw(st.sampled_from([nb["cells"], "notebook", 4, None, [nb]]))
    return broken(f"the notebook is {type(whole).__name__}", json.dumps(whole).encode(),
                  "not a jupyter notebook")


@st.composite
def missing_keys(draw) -> Case:
    nb = json.loads(correct())
    what = draw(st.sampled_from(["cells", "nbformat", "both", "cell_type", "harmless"]))
    if what == "cells":
        del nb["cells"]
        return broken("no cells", json.dumps(nb).encode(), "'cells' is missing")
    if what == "nbformat":
        del nb["nbformat"]
        return broken("no nbformat", json.dumps(nb).encode(), "missing or invalid 'nbformat'")
    if what == "both":
        del nb["cells"], nb["nbformat"]
        return broken("no cells, no nbformat", json.dumps(nb).encode(), "no 'cells' or 'nbformat' field")
    i = draw(st.integers(0, len(nb["cells"]) - 1))
    if what == "cell_type":
        del nb["cells"][i]["cell_type"]
        return broken(f"cell {i} without cell_type", json.dumps(nb).encode(),
                      f"cell {i} is malformed", "no cell_type")
    # Keys grading does not need: the notebook's minor version, a markdown cell's source and
    # metadata, a code cell's outputs and execution count.
    gone = draw(st.sampled_from(["nbformat_minor", "markdown source", "markdown metadata",
                                 "outputs", "execution_count"]))
    if gone == "nbformat_minor":
        del nb[gone]
    elif gone.startswith("markdown"):
        del nb["cells"][_markdown_cell(nb)][gone.split()[1]]
    else:
        for cell in nb["cells"]:
            cell.pop(gone, None)
    return harmless(f"no {gone}", json.dumps(nb).encode())


@st.composite
def huge(draw) -> Case:
    where = draw(st.sampled_from(["notebook metadata", "markdown cell", "stream output", "padding"]))
    size = draw(st.one_of(st.integers(1 << 20, 6 << 20),                       # a few MB
                          st.integers(MAX_NOTEBOOK_BYTES - 2, MAX_NOTEBOOK_BYTES + 2),  # the edge
                          st.integers(MAX_NOTEBOOK_BYTES + 1, MAX_NOTEBOOK_BYTES + (4 << 20))))
    if where == "padding":
        data = padded(size)
    else:
        def edit(nb):
            if where == "notebook metadata":
                nb["metadata"]["blob"] = "@@RAW@@"
            elif where == "markdown cell":
                nb["cells"][_markdown_cell(nb)]["source"] = "@@RAW@@"
            else:
                nb["cells"][_code_cell(nb)]["outputs"] = [
                    {"output_type": "stream", "name": "stdout", "text": "@@RAW@@"}]
            return '"' + "x" * max(0, size - len(correct()) - 80) + '"'

        data = with_placeholder(edit)
        data += b" " * max(0, size - len(data))   # exactly `size` bytes (or a little over)
    label = f"{len(data):,} bytes, {where}"
    if len(data) > MAX_NOTEBOOK_BYTES:
        return broken(label, data, "file too large")
    return harmless(label, data)


@st.composite
def bad_utf8(draw) -> Case:
    data = correct()
    junk = draw(st.one_of(
        st.sampled_from([b"\xff", b"\xfe", b"\x80", b"\xc3\x28", b"\xe2\x82", b"\xed\xa0\x80",
                         b"\xc0\xaf", b"\xf8\x88\x80\x80\x80", b"\xf4\x90\x80\x80"]),
        st.binary(min_size=1, max_size=4)))
    at = draw(st.integers(0, len(data)))
    spliced = data[:at] + junk + data[at:]
    try:
        spliced.decode("utf-8")
    except UnicodeDecodeError as exc:
        return broken(f"{junk!r} spliced in at byte {at}", spliced, "not utf-8",
                      f"invalid byte at offset {exc.start}")
    assume(False)       # valid UTF-8 after all: some other case


@st.composite
def odd_version(draw) -> Case:
    version = draw(st.one_of(st.sampled_from([3, 5, -1, 0, 10**30, 2**63, -10**30]),
                             st.integers().filter(lambda v: v != 4)))
    if draw(st.booleans()) and version == 3:
        data = nbformat.v3.writes_json(nbformat.v3.new_notebook()).encode()    # a real v3 file
    else:
        nb = json.loads(correct())
        nb["nbformat"] = version
        data = json.dumps(nb).encode()
    return broken(f"nbformat {version}", data, f"unsupported notebook format version {version}")


def odd_bytes() -> st.SearchStrategy[Case]:
    return st.one_of(
        st.text(" \t\r\n", max_size=20).map(
            lambda s: broken(f"whitespace only {s!r}", s.encode(), "the file is empty")),
        st.just(None).map(lambda _: broken("a UTF-8 BOM", b"\xef\xbb\xbf" + correct(), "bom")),
        st.just(None).map(lambda _: broken(
            "UTF-16 (Notepad's 'Unicode')", correct().decode().encode("utf-16"), "not utf-8")),
        st.sampled_from([b"null", b"[]", b'"notebook"', b"42"]).map(
            lambda d: broken(f"JSON {d!r}", d, "not a jupyter notebook")),
        st.sampled_from([b"}{", b"{}{}", b",", b"\x00"]).map(
            lambda d: broken(f"{d!r} appended", correct() + d, "not valid json")),
        st.just(None).map(lambda _: harmless(
            "NaN and unknown keys", with_placeholder(lambda nb: nb.update(extra="@@RAW@@") or
                                                     '{"x": NaN, "y": [Infinity, -Infinity]}'))),
    )


def broken_notebooks() -> st.SearchStrategy[Case]:
    return st.one_of(truncated(), nested(), wrong_types(), missing_keys(), huge(), bad_utf8(),
                     odd_version(), odd_bytes())


# ---- things in place of the notebook (or of a folder)

LINK = "symbolic link"


def not_notebooks() -> st.SearchStrategy[Case]:
    def ts(data_op, *words):
        return failed(f"timestamp.txt {words[-1]}", (("file", NB, correct()), data_op),
                      "timestamp.txt", *words)

    return st.sampled_from([
        lambda: failed("link to the source notebook", (("link", NB, "{source_notebook}"),), LINK,
                       source=True),
        lambda: failed("renamed link to the source notebook",
                       (("link", f"{ASSIGNMENT}/{ASSIGNMENT} (1).ipynb", "{source_notebook}"),),
                       LINK, source=True),
        lambda: failed("link to /etc/passwd", (("link", NB, "/etc/passwd"),), LINK),
        lambda: failed("dangling link", (("link", NB, "/nonexistent-initkit/x.ipynb"),), LINK),
        lambda: failed("link to a copy beside it",
                       (("file", f"{ASSIGNMENT}/{ASSIGNMENT}-Copy1.ipynb", correct()),
                        ("link", NB, f"{ASSIGNMENT}-Copy1.ipynb")), LINK),
        lambda: failed("FIFO", (("fifo", NB),), "fifo", "not a regular file"),
        lambda: failed("directory named like the notebook",
                       (("dir", NB), ("file", f"{NB}/x.ipynb", correct())), "directory"),
        lambda: failed("student folder linked to the course's source/", (("link", "", "{source}"),),
                       LINK, source=True),
        lambda: failed("assignment folder linked to the source's",
                       (("link", ASSIGNMENT, "{source_assignment}"),), LINK, source=True),
        lambda: failed("empty assignment folder", (("dir", ASSIGNMENT),), "no notebook",
                       "the folder is empty"),
        lambda: failed("only other files", (("file", f"{ASSIGNMENT}/answers.txt", b"x"),
                                            ("file", f"{ASSIGNMENT}/.~{NOTEBOOK}", correct())),
                       "no notebook", "answers.txt"),
        lambda: ts(("fifo", f"{ASSIGNMENT}/timestamp.txt"), "fifo"),
        lambda: ts(("link", f"{ASSIGNMENT}/timestamp.txt", "/etc/passwd"), LINK),
        lambda: ts(("file", f"{ASSIGNMENT}/timestamp.txt", b"no date here"), "is not a date"),
        lambda: ts(("file", f"{ASSIGNMENT}/timestamp.txt", b"2024-13-45 25:61:00"), "is not a date"),
        lambda: ts(("file", f"{ASSIGNMENT}/timestamp.txt", b"\xff\xfe2024"), "is not utf-8"),
        lambda: ts(("file", f"{ASSIGNMENT}/timestamp.txt", b"2024-01-01 " * 200), "too large"),
    ]).map(lambda make: make())


# ---- which notebook is graded

# Visible copies a student leaves beside the notebook, hidden ones, and files that are not notebooks.
VISIBLE_STRAYS = [f"{ASSIGNMENT}-Copy1.ipynb", "Untitled.ipynb", "Untitled1.ipynb",
                  f"{ASSIGNMENT.upper()}.IPYNB", f"{ASSIGNMENT}.ipynb.ipynb"]
HIDDEN_STRAYS = [f".~{NOTEBOOK}", f".ipynb_checkpoints/{ASSIGNMENT}-checkpoint.ipynb", ".hidden.ipynb"]
OTHER_FILES = ["notes.txt", "data.csv", f"{ASSIGNMENT}.ipynb.bak"]
RENAMED = [f"{ASSIGNMENT} (1).ipynb", "Untitled.ipynb", f"{ASSIGNMENT}-Copy1.ipynb",
           "my notebook.ipynb", "Init_Symmetry.ipynb", "x.IPYNB"]


def stray_file(draw, name: str) -> tuple:
    """A stray copy that cannot pass for the notebook: grading it instead would show."""
    path = f"{ASSIGNMENT}/{name}"
    return draw(st.sampled_from([("file", path, b""), ("file", path, b"{"),
                                 ("file", path, correct()[:1000]), ("fifo", path), ("dir", path),
                                 ("link", path, "{source_notebook}")]))


@st.composite
def correct_cases(draw) -> Case:
    """Correct submissions: alone, with stray copies beside them, or only a renamed copy."""
    how = draw(st.sampled_from(["plain", "strays", "renamed"]))
    hidden = draw(st.lists(st.sampled_from(HIDDEN_STRAYS + OTHER_FILES), unique=True, max_size=3))
    layout = tuple(stray_file(draw, n) for n in hidden)
    if draw(st.booleans()):
        stamp = draw(st.sampled_from([b"2024-03-01 12:00:00.123456 UTC", b"2024-03-01T12:00:00+01:00",
                                      b"2024-03-01 12:00:00", b" 2024-03-01 12:00:00 \n"]))
        layout += (("file", f"{ASSIGNMENT}/timestamp.txt", stamp),)
    if how == "renamed":
        name = draw(st.sampled_from(RENAMED))
        return Case(f"only {name!r}", layout + (("file", f"{ASSIGNMENT}/{name}", correct()),),
                    "correct", note=(name, "only notebook"))
    visible = []
    if how == "strays":
        visible = draw(st.lists(st.sampled_from(VISIBLE_STRAYS), unique=True, min_size=1, max_size=3))
        layout += tuple(stray_file(draw, n) for n in visible)
    layout += (("file", NB, correct()),)
    label = f"correct, beside {visible + hidden}" if visible or hidden else "correct"
    return Case(label, layout, "correct",
                note=(f"Graded {NOTEBOOK}", *visible) if visible else None)


@st.composite
def several_notebooks(draw) -> Case:
    names = sorted(draw(st.lists(st.sampled_from(RENAMED + VISIBLE_STRAYS[1:]), unique=True,
                                 min_size=2, max_size=5)))
    layout = tuple(("file", f"{ASSIGNMENT}/{n}", draw(st.sampled_from([correct(), b"{"])))
                   for n in names)
    return failed(f"notebooks {names}", layout, f"{len(names)} notebooks",
                  f"none named {NOTEBOOK}", *names)


# ---- student folder names

ODD_NAMES = ["anna maria", "José", "Müller", "中文", "Zoë Ünal-Çelik", "-rf", "--help", "-",
             " leading space", "trailing space ", "tab\there", "new\nline", "<b>bold</b>",
             "a&b;c", "O'Brien", 'say "hi"', "back\\slash", "x" * 200, "é" * 127, "中" * 85]


def _folder_name(name: str) -> bool:
    return (bool(name) and not name.startswith(".") and "/" not in name and "\0" not in name
            and len(os.fsencode(name)) <= 255)


def student_names(text_only: bool = False) -> st.SearchStrategy[str]:
    """Folder names: plain, spaces, accents, CJK, leading dashes, up to 200 characters, and
    (unless text_only) byte strings that are not UTF-8."""
    names = [st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True),
             st.sampled_from(ODD_NAMES),
             st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"),
                     min_size=1, max_size=30),
             st.integers(1, 200).map(lambda n: "n" * n),
             st.tuples(st.sampled_from("éü中"), st.integers(1, 85)).map(lambda t: t[0] * t[1])]
    if not text_only:
        names.append(st.binary(min_size=1, max_size=16).map(os.fsdecode))
        names.append(st.sampled_from([b"caf\xe9", b"\xff\xfe", b"M\xfcller", b"x\x80y"]).map(os.fsdecode))
    return st.one_of(names).filter(_folder_name)


def no_row_cases() -> st.SearchStrategy[Case]:
    """Folders that are not a submission of this assignment: no row, and no hang."""
    return st.sampled_from([
        Case("only another assignment", (("file", "other_assignment/x.ipynb", b"{"),), "none"),
        Case("no assignment folder", (("dir", "notes"),), "none"),
        Case("dangling student link", (("link", "", "/nonexistent-initkit"),), "none"),
        Case("a file, not a folder", (("file", "", b"x"),), "none"),
        Case("a FIFO, not a folder", (("fifo", ""),), "none"),
    ])


# ---- batches

@st.composite
def batches(draw, others: st.SearchStrategy[Case], most: int = 4,
            names: st.SearchStrategy[str] | None = None) -> list[tuple[str, Case]]:
    """(folder name, case) pairs: one or two correct submissions with text names, up to `most`
    others, perhaps a hidden student folder and a folder that is not a submission."""
    names = student_names() if names is None else names
    good = draw(st.lists(correct_cases(), min_size=1, max_size=2))
    bad = draw(st.lists(others, min_size=1, max_size=most))
    extra = draw(st.lists(no_row_cases(), max_size=1))
    cases = good + bad + extra
    folder_names = draw(st.lists(student_names(text_only=True), min_size=len(good), max_size=len(good),
                                 unique_by=printable))
    folder_names += draw(st.lists(names, min_size=len(bad) + len(extra), max_size=len(bad) + len(extra),
                                  unique_by=printable).filter(
        lambda more: not {printable(n) for n in more} & {printable(n) for n in folder_names}))
    batch = list(zip(folder_names, cases))
    if draw(st.booleans()):    # a hidden folder: skipped, whatever it holds
        batch.append((draw(st.sampled_from([".ipynb_checkpoints", ".hidden", ".~x"])),
                      Case("hidden folder", plain_layout(), "none")))
    return batch


# --------------------------------------------------------------------------- running a batch

@dataclass
class Env:
    course_dir: Path
    tmp: Path                       # examples' folders go under it
    gradebook: Path                 # an empty gradebook that knows the assignment
    alone: dict                     # (name, layout) -> outputs when graded alone


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Env:
    from initkit.grading.collect import load_tests
    from initkit.reference import diagnosis, reference
    from initkit.reports.gradebook import write_gradebook

    root = tmp_path_factory.mktemp("messy")
    course_dir = copy_real_course(root / "course")
    course = Course.open(course_dir)
    load_tests(course), reference(course), diagnosis(course)  # once: the forked workers inherit them
    # ... and so do the modules the first grading imports (about 2 s in every worker otherwise)
    warm = in_process_grade(HandIn("warm-up", NOTEBOOK, correct()), course)
    assert warm["score"] == course.max_score, warm
    template = root / "template.db"
    write_gradebook([], course, db_url=f"sqlite:///{template}")   # (creating one takes seconds)
    return Env(course_dir, root, template, {})


def build(submissions: Path, name: str, layout: tuple, course_dir: Path) -> None:
    source = course_dir / "source" / ASSIGNMENT
    targets = {"{source_notebook}": str(source / NOTEBOOK), "{source_assignment}": str(source),
               "{source}": str(source.parent)}
    base = submissions / name
    for op, rel, *args in layout:
        path = base / rel if rel else base
        path.parent.mkdir(parents=True, exist_ok=True)
        if op == "file":
            path.write_bytes(args[0])
        elif op == "fifo":
            os.mkfifo(path)
        elif op == "dir":
            path.mkdir(parents=True, exist_ok=True)
        elif op == "link":
            os.symlink(targets.get(args[0], args[0]), path)
        else:
            raise ValueError(op)


class Hung(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float):
    """Fail instead of hanging (e.g. on a FIFO opened for reading)."""
    def on_alarm(signum, frame):
        raise Hung(f"the batch did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def grade(env: Env, batch: list[tuple[str, Case]], tmp: Path, *, gradebook: bool = False):
    submissions, out = tmp / "submitted", tmp / "out"
    submissions.mkdir(parents=True)
    for name, case in batch:
        build(submissions, name, case.layout, env.course_dir)
    url = False
    if gradebook:
        out.mkdir()
        shutil.copy(env.gradebook, out / "gradebook.db")
        url = f"sqlite:///{out / 'gradebook.db'}"
    with time_limit(HANG_LIMIT):
        summary = api.grade(Course.open(env.course_dir), out, submissions_dir=submissions, workers=1,
                            progress=False, gradebook=url, grade=in_process_grade, host_factory=None)
    return summary, submissions, out


def check_batch(env: Env, batch: list[tuple[str, Case]], *, gradebook: bool = False) -> None:
    with tempfile.TemporaryDirectory(dir=env.tmp) as tmp:
        summary, submissions, out = grade(env, batch, Path(tmp), gradebook=gradebook)
        batch = resolved(batch, summary.results)
        check_rows(summary.results, batch, submissions)
        check_outputs(summary.results, out, forbidden=[tmp, str(env.tmp), str(REPO)])
        errors = sum(expected(name, case)[0] == "error" for name, case in batch)
        assert len(summary.errors) == errors, [r["error"] for r in summary.errors]
        assert f"errors {errors}   timeouts 0" in format_summary(summary), format_summary(summary)
        if gradebook:
            check_gradebook(out / "gradebook.db", summary.results)
        for name, case in batch:
            if expected(name, case)[0] == "correct":
                got = outputs(out, printable(name))
                want = alone(env, name, case.alone or case.layout)
                if case.alone is not None:     # another file alone: only the file's digest may differ
                    got, want = (got[0], without("digest", got[1]), got[2]), \
                                (want[0], without("digest", want[1]), want[2])
                assert got[0] == want[0], (name, case, got[0], want[0])
                assert got[1] == want[1], (name, case, batch)
                assert got[2] == want[2], (name, case, batch)


def resolved(batch: list[tuple[str, Case]], results: list[dict]) -> list[tuple[str, Case]]:
    """An "either" case made "correct" or "error" by its row."""
    status = {r["student"]: r["status"] for r in results}
    out = []
    for name, case in batch:
        if case.expect == "either":
            graded = status.get(printable(name)) == "graded"
            case = dataclasses.replace(case, expect="correct" if graded else "error",
                                       words=() if graded else case.words)
        out.append((name, case))
    return out


def without(key: str, d: dict) -> dict:
    return {k: v for k, v in d.items() if k != key}


# What a row's error must never say: a later stage failed, or the grader itself.
STAGE_FAILURES = ("could not write", "could not record", "internal grading error", "Traceback")


def expected(name: str, case: Case) -> tuple[str, tuple[str, ...]]:
    """(outcome, words): a folder name that is not text is an error whatever it holds."""
    if case.expect != "none" and printable(name) != name:
        return "error", ("the folder name is not valid utf-8 text", "rename")
    return case.expect, case.words


def check_rows(results: list[dict], batch: list[tuple[str, Case]], submissions: Path) -> None:
    want = {printable(name): (name, case) for name, case in batch if expected(name, case)[0] != "none"}
    students = [r["student"] for r in results]
    assert students == sorted(want), f"rows {students!r}, folders {sorted(want)!r}"
    for r in results:
        name, case = want[r["student"]]
        outcome, words = expected(name, case)
        what = f"{name!r} ({case.label})"
        assert not any(w in (r["error"] or "") for w in STAGE_FAILURES), (what, r["error"])
        if case.source:
            assert r["score"] == 0, what
        if outcome == "error":
            assert r["status"] == "error" and r["score"] == 0 and not r["tests"], (what, r)
            assert all(c["score"] == 0 for c in r["criteria"].values()), what
            folder = str(submissions / r["student"])
            assert r["error"].startswith(folder), (what, r["error"])
            message = r["error"][len(folder):]
            assert "\n" not in message, (what, r["error"])
            assert all(w in message.lower() for w in words), (what, words, r["error"])
        else:
            assert r["status"] == "graded" and r["score"] == r["max_score"] == sum(CRITERIA.values()), (what, r)
            if case.note is None:
                assert r["notes"] == [], (what, r["notes"])
            else:
                assert len(r["notes"]) == 1, (what, r["notes"])
                assert all(w in r["notes"][0] for w in case.note), (what, r["notes"])


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:     # newline="": a \r in a name stays
        return list(csv.reader(f))


def page_path(out: Path, result: dict) -> Path:
    """nbgrader's feedback layout: feedback/<student>/<assignment>/<notebook>.html."""
    return out / "feedback" / result["student"] / ASSIGNMENT / f"{Path(result['notebook']).stem}.html"


def check_outputs(results: list[dict], out: Path, forbidden: list[str]) -> None:
    """grades.csv and grades.json hold every row as the results say; every row has a page."""
    criteria = list(results[0]["criteria"]) if results else []
    table = list(read_csv(out / "grades.csv"))
    assert table[0][:4] == ["student", "score", "max_score", "status"] and table[0][-1] == "error"
    if results:
        assert table[0][4:-1] == criteria
    assert [row[0] for row in table[1:]] == [r["student"] for r in results]
    for row, r in zip(table[1:], results):
        assert row[3] == r["status"] and float(row[1]) == pytest.approx(r["score"], abs=1e-3)
        assert [float(x) for x in row[4:-1]] == pytest.approx(
            [r["criteria"][c]["score"] for c in criteria], abs=1e-3)
        assert row[-1] == (r["error"] if r["status"] == "error" else "")
    rows = json.loads((out / "grades.json").read_text(encoding="utf-8"))["submissions"]
    assert rows == [json.loads(json.dumps({k: v for k, v in r.items() if k != "student_code"}))
                    for r in results]
    for r in results:
        page = page_path(out, r).read_text(encoding="utf-8")
        for path in forbidden:
            assert path not in page and html.escape(path) not in page, (r["student"], path)
        text = html.unescape(page)
        for note in r["notes"]:
            assert as_written(note) in text, (r["student"], note)
        if r["status"] == "error":
            assert as_written(r["error"].rsplit(": ", 1)[-1]) in text, (r["student"], r["error"])
    assert not list(out.rglob("*.tmp"))


def as_written(text: str) -> str:
    """How text shows in a page: a lone surrogate (from a file name that is not UTF-8) escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def check_gradebook(db: Path, results: list[dict]) -> None:
    with contextlib.closing(sqlite3.connect(db)) as con:
        found = con.execute(
            "select sa.student_id, bc.name, g.auto_score from grade g "
            "join submitted_notebook sn on g.notebook_id = sn.id "
            "join submitted_assignment sa on sn.assignment_id = sa.id "
            "join assignment a on sa.assignment_id = a.id "
            "join base_cell bc on g.cell_id = bc.id where a.name = ?", (ASSIGNMENT,)).fetchall()
    scores: dict[str, dict[str, float]] = {}
    for student, cell, score in found:
        scores.setdefault(student, {})[cell] = score
    assert sorted(scores) == [r["student"] for r in results]
    for r in results:
        for name, c in r["criteria"].items():
            assert scores[r["student"]][name] == pytest.approx(c["score"]), (r["student"], name)


def outputs(out: Path, student: str) -> tuple[list[str], dict, bytes]:
    """A student's row of grades.csv, result in grades.json (but duration) and feedback page."""
    row = next(r for r in read_csv(out / "grades.csv") if r[0] == student)
    results = json.loads((out / "grades.json").read_text(encoding="utf-8"))["submissions"]
    result = next(r for r in results if r["student"] == student)
    result.pop("duration")
    return row, result, page_path(out, result).read_bytes()


def alone(env: Env, name: str, layout: tuple) -> tuple[list[str], dict, bytes]:
    """`outputs` of the folder graded alone. (Without the instructor's report.html, which none
    of them depends on: its plots are two thirds of a small batch's time.)"""
    key = (name, layout)
    if key not in env.alone:
        with tempfile.TemporaryDirectory(dir=env.tmp) as tmp, pytest.MonkeyPatch.context() as mp:
            mp.setattr("initkit.reports.instructor.write_instructor_report",
                       lambda course, out_dir, *args, **kwargs: Path(out_dir) / "report.html",
                       raising=False)
            _, _, out = grade(env, [(name, Case("alone", layout, "correct"))], Path(tmp))
            env.alone[key] = outputs(out, printable(name))
    return env.alone[key]


# --------------------------------------------------------------------------- the properties

@fuzz(14)
@given(batch=batches(broken_notebooks()), gradebook=st.booleans())
@pytest.mark.slow
def test_broken_notebooks_beside_correct_ones(env, batch, gradebook):
    check_batch(env, batch, gradebook=gradebook)


@fuzz(8)
@given(batch=batches(not_notebooks(), most=3))
def test_links_fifos_and_folders_in_place_of_the_notebook(env, batch):
    check_batch(env, batch)


@fuzz(7)
@given(batch=batches(st.one_of(several_notebooks(), correct_cases()), most=2))
def test_the_notebook_rule(env, batch):
    check_batch(env, batch)


@fuzz(7)
@given(batch=batches(st.one_of(correct_cases(), truncated(), not_notebooks()), most=4,
                     names=student_names()), gradebook=st.booleans())
@pytest.mark.slow
def test_odd_folder_names(env, batch, gradebook):
    check_batch(env, batch, gradebook=gradebook)


def test_every_named_case_in_one_batch(env):
    """Every case of the list once, deterministically, with the gradebook: depth 100,000, the
    file just over the limit, the FIFO, the links to the source notebook, the odd names."""
    nb = json.loads(correct())
    deep = "[" * 100_000 + "]" * 100_000
    a = ASSIGNMENT
    batch = [
        ("ok", Case("correct", plain_layout(), "correct")),
        ("anna maria", Case("correct beside copies", (
            ("file", f"{a}/{a}-Copy1.ipynb", b"{"), ("file", f"{a}/Untitled.ipynb", b""),
            ("file", f"{a}/.~{NOTEBOOK}", b"{"),
            ("file", f"{a}/.ipynb_checkpoints/{a}-checkpoint.ipynb", b"{"),
            ("file", NB, correct())), "correct",
            note=(f"Graded {NOTEBOOK}", f"{a}-Copy1.ipynb", "Untitled.ipynb"))),
        ("中文", Case("only a renamed copy", (("file", f"{a}/{a} (1).ipynb", correct()),), "correct",
                    note=(f"{a} (1).ipynb", "only notebook"))),
        ("-rf", failed("two notebooks, neither named right",
                       (("file", f"{a}/a.ipynb", correct()), ("file", f"{a}/b.ipynb", correct())),
                       "2 notebooks (a.ipynb, b.ipynb)", f"none named {NOTEBOOK}")),
        (os.fsdecode(b"caf\xe9"), Case("correct, folder name not UTF-8", plain_layout(), "correct")),
        ("x" * 200, broken("depth 100,000 in metadata", with_placeholder(
            lambda n: n["metadata"].update(deep="@@RAW@@") or deep), "nested more than")),
        ("deep_outputs", broken("depth 100,000 in outputs", with_placeholder(
            lambda n: n["cells"][_code_cell(n)].update(outputs=["@@RAW@@"]) or deep), "nested more than")),
        ("over_limit", broken("just over the limit", padded(MAX_NOTEBOOK_BYTES + 1), "file too large")),
        ("at_limit", harmless("exactly at the limit", padded(MAX_NOTEBOOK_BYTES))),
        ("empty", broken("empty", b"", "the file is empty")),
        ("bom", broken("BOM", b"\xef\xbb\xbf" + correct(), "bom")),
        ("v5", broken("nbformat 5", correct().replace(b'"nbformat": 4', b'"nbformat": 5'),
                      "unsupported notebook format version 5")),
        ("cells_dict", broken("cells is a dict", json.dumps({**nb, "cells": {}}).encode(),
                              "'cells' is missing or not a list")),
        ("link_source", failed("link to the source notebook", (("link", NB, "{source_notebook}"),), LINK,
                               source=True)),
        ("link_passwd", failed("link to /etc/passwd", (("link", NB, "/etc/passwd"),), LINK)),
        ("link_dangling", failed("dangling link", (("link", NB, "/nonexistent-initkit"),), LINK)),
        ("fifo", failed("FIFO", (("fifo", NB),), "fifo")),
        ("directory", failed("directory", (("dir", NB),), "directory")),
        ("linked_student", failed("linked student folder", (("link", "", "{source}"),), LINK, source=True)),
        ("linked_assignment", failed("linked assignment folder", (("link", a, "{source_assignment}"),),
                                     LINK, source=True)),
        (".hidden", Case("hidden folder", plain_layout(), "none")),
        ("not_submitted", Case("another assignment", (("file", "other/x.ipynb", correct()),), "none")),
    ]
    check_batch(env, batch, gradebook=True)


def harmless_cases() -> list[Case]:
    """Every kind of junk where grading does not look, once."""
    def edited(label, edit):
        return harmless(label, with_placeholder(lambda nb: edit(nb) and None))

    def markdown(nb):
        return nb["cells"][_markdown_cell(nb)]

    deepest = MAX_JSON_DEPTH - 2        # the notebook and its metadata are the first two levels
    three_mb = '"' + "x" * (3 << 20) + '"'

    return [
        edited("no nbformat_minor", lambda nb: nb.pop("nbformat_minor")),
        edited("nbformat_minor is a string", lambda nb: nb.update(nbformat_minor="five")),
        edited("a markdown cell without source", lambda nb: markdown(nb).pop("source")),
        edited("a markdown cell without metadata", lambda nb: markdown(nb).pop("metadata")),
        edited("code cells without outputs", lambda nb: [c.pop("outputs", None) for c in nb["cells"]]),
        edited("outputs is a string", lambda nb: nb["cells"][_code_cell(nb)].update(outputs="x")),
        edited("unknown keys", lambda nb: nb.update(extra={"a": [1, {"b": None}]})),
        harmless("NaN and Infinity", with_placeholder(
            lambda nb: nb.update(extra="@@RAW@@") or '{"x": NaN, "y": [Infinity, -Infinity]}')),
        harmless(f"{deepest} levels of lists in the notebook metadata", with_placeholder(
            lambda nb: nb["metadata"].update(deep="@@RAW@@") or "[" * deepest + "]" * deepest)),
        harmless("3 MB in a markdown cell", with_placeholder(
            lambda nb: markdown(nb).update(source="@@RAW@@") or three_mb)),
        harmless("3 MB of stream output", with_placeholder(
            lambda nb: nb["cells"][_code_cell(nb)].update(outputs=[
                {"output_type": "stream", "name": "stdout", "text": "@@RAW@@"}]) or three_mb)),
        harmless("exactly the size limit", padded(MAX_NOTEBOOK_BYTES)),
    ]


def test_harmless_junk_is_graded_like_the_clean_notebook(env):
    """A notebook the parser accepts goes through every later stage too (feedback, autograded
    notebook, gradebook): same row, result (but the file's digest) and page as the clean one."""
    batch = [("ok", Case("correct", plain_layout(), "correct"))]
    batch += [(f"junk{i:02d}", case) for i, case in enumerate(harmless_cases())]
    check_batch(env, batch, gradebook=True)


@pytest.mark.slow
@fuzz(100)
@given(batch=batches(st.one_of(broken_notebooks(), not_notebooks(), several_notebooks(),
                               correct_cases()), most=6), gradebook=st.booleans())
def test_everything_mixed_many_examples(env, batch, gradebook):
    check_batch(env, batch, gradebook=gradebook)


# --------------------------------------------------------------------------- the command line
# The real sandboxed grader (`initkit grade` has no in-process option): a few seconds a run.

def run_cli(tmp: Path, batch: list[tuple[str, Case]], capsys) -> tuple[int, str, Path]:
    course = copy_real_course(tmp / "course")
    for name, case in batch:
        build(course / "submitted", name, case.layout, course)
    out = tmp / "out"
    with time_limit(HANG_LIMIT):
        code = cli.main(["grade", str(course), "--out", str(out), "--quiet", "--no-gradebook"])
    return code, capsys.readouterr().out, out


@fuzz(2)
@given(batch=batches(st.one_of(broken_notebooks(), not_notebooks()), most=2))
def test_cli_with_errors_exits_3(batch, capsys):
    errors = sum(expected(name, case)[0] == "error" for name, case in batch)
    assume(errors > 0)
    with tempfile.TemporaryDirectory() as tmp:
        code, printed, out = run_cli(Path(tmp), batch, capsys)
        assert code == cli.EXIT_WITH_ERRORS == 3, printed
        assert f"errors {errors}   timeouts 0" in printed
        results = json.loads((out / "grades.json").read_text(encoding="utf-8"))["submissions"]
        check_rows(results, batch, Path(tmp) / "course" / "submitted")
        check_outputs(results, out, forbidden=[tmp, str(REPO)])


def test_cli_only_correct_exits_0(tmp_path, capsys):
    batch = [("ok", Case("correct", plain_layout(), "correct")),
             ("Zoë", Case("renamed", (("file", f"{ASSIGNMENT}/Untitled.ipynb", correct()),), "correct",
                          note=("Untitled.ipynb", "only notebook")))]
    code, printed, out = run_cli(tmp_path, batch, capsys)
    assert code == 0, printed
    results = json.loads((out / "grades.json").read_text(encoding="utf-8"))["submissions"]
    check_rows(results, batch, tmp_path / "course" / "submitted")
    check_outputs(results, out, forbidden=[str(tmp_path), str(REPO)])


# --------------------------------------------------------------------------- found by fuzzing
# Each is the smallest batch that showed a bug (now fixed).

CAFE = os.fsdecode(b"caf\xe9")       # a folder or file name that is not UTF-8


def check_whatever_the_outcome(env, batch: list[tuple[str, Case]]) -> list[dict]:
    """For a case either outcome of which is right (graded, or an error naming the file): one
    row per folder, no stage's failure in any row, every page written without grader paths."""
    with tempfile.TemporaryDirectory(dir=env.tmp) as tmp:
        summary, submissions, out = grade(env, batch, Path(tmp))
        assert [r["student"] for r in summary.results] == sorted(printable(n) for n, _ in batch)
        for r in summary.results:
            assert not any(w in (r["error"] or "") for w in STAGE_FAILURES), r["error"]
            if r["status"] == "error":
                assert r["error"].startswith(str(submissions / r["student"])), r["error"]
        check_outputs(summary.results, out, forbidden=[str(env.tmp), str(REPO)])
        return summary.results


@pytest.mark.parametrize("data", [b'{"nbformat": 4, "cells": [], "n": 1' + b"0" * 5000 + b"}",
                                  b'{"nbformat": 1' + b"0" * 5000 + b', "cells": []}'],
                         ids=["in metadata", "as nbformat"])
def test_bug_huge_integer(env, data):
    check_batch(env, [("ok", Case("correct", plain_layout(), "correct")),
                      ("big", broken("5001-digit integer", data))])


def test_lone_surrogate_in_source(env):
    """A \\ud800 escape in a code cell's source (valid JSON, not a character): graded, and the
    page written with the surrogate escaped."""
    def edit(nb):
        cell = next(c for c in nb["cells"] if c["cell_type"] == "code"
                    and c["metadata"].get("nbgrader", {}).get("solution"))
        cell["source"] = "".join(cell["source"]) + "\n# @@SURROGATE@@"

    data = with_placeholder(edit).replace(b"@@SURROGATE@@", b"\\ud800")
    check_whatever_the_outcome(env, [("ok", Case("correct", plain_layout(), "correct")),
                                     ("s", harmless("\\ud800 in a comment", data))])


def test_bug_notebook_name_not_utf8(env):
    check_whatever_the_outcome(env, [
        ("ok", Case("correct", plain_layout(), "correct")),
        ("s", Case("only notebook's name not UTF-8", (("file", f"{ASSIGNMENT}/{CAFE}.ipynb", correct()),),
                   "correct"))])


@pytest.mark.parametrize("case", [
    Case("a stray whose name is not UTF-8", (("file", f"{ASSIGNMENT}/Untitled{CAFE}.ipynb", b"{"),
                                             ("file", NB, correct())),
         "correct", note=(f"Graded {NOTEBOOK}", "Untitledcaf")),
    Case("no notebook, a file whose name is not UTF-8", (("file", f"{ASSIGNMENT}/notes{CAFE}.txt", b"x"),),
         "error", ("no notebook", "notescaf")),
    Case("two notebooks, one name not UTF-8", (("file", f"{ASSIGNMENT}/a.ipynb", b"{"),
                                               ("file", f"{ASSIGNMENT}/b{CAFE}.ipynb", b"{")),
         "error", ("2 notebooks", "a.ipynb, bcaf")),
], ids=lambda c: c.label)
def test_listed_file_names_not_utf8(env, case):
    """File names that are not UTF-8 in a note or an error: the row stays what it is, and the
    page is written (the name escaped)."""
    check_batch(env, [("ok", Case("correct", plain_layout(), "correct")), ("s", case)])


def test_bug_long_notebook_name(env):
    name = "x" * 240 + ".ipynb"
    check_batch(env, [("s", Case("long name", (("file", f"{ASSIGNMENT}/{name}", correct()),), "correct",
                                 note=(name, "only notebook")))])


def test_bug_student_ids_collide(env):
    with tempfile.TemporaryDirectory(dir=env.tmp) as tmp:
        batch = [(CAFE, Case("not UTF-8", plain_layout(), "error")),
                 ("caf\\xe9", Case("backslash", plain_layout(), "correct"))]
        summary, _, _ = grade(env, batch, Path(tmp))
        assert len(summary.results) == 2, [r["student"] for r in summary.results]


def test_bug_timestamp_out_of_range(env):
    layout = (("file", NB, correct()),
              ("file", f"{ASSIGNMENT}/timestamp.txt", b"9999-12-31T23:59:59-23:59"))
    with tempfile.TemporaryDirectory(dir=env.tmp) as tmp:
        summary, _, _ = grade(env, [("s", Case("timestamp", layout, "correct"))], Path(tmp) / "1",
                              gradebook=True)
        without, _, _ = grade(env, [("s", Case("timestamp", layout, "correct"))], Path(tmp) / "2")
    row = summary.results[0]
    assert row["status"] == without.results[0]["status"], row["error"]
    assert row["status"] == "graded" or "timestamp.txt" in row["error"], row["error"]


def test_bug_carriage_return_in_folder_name(env):
    check_batch(env, [("ok", Case("correct", plain_layout(), "correct")),
                      ("carriage\rreturn", Case("correct, CR in the name", plain_layout(), "correct"))])


@pytest.mark.parametrize("edit", [
    lambda nb: nb.update(metadata=[]), lambda nb: nb.update(metadata=None),
    lambda nb: nb.update(metadata="metadata"), lambda nb: nb.pop("metadata")],
    ids=["list", "null", "string", "missing"])
def test_bug_notebook_metadata_not_an_object(env, edit):
    """Either way is right: graded like the clean notebook, or refused by the parser with an
    error that says 'metadata'; a later stage failing is not."""
    data = with_placeholder(lambda nb: edit(nb) and None)
    check_batch(env, [("ok", Case("correct", plain_layout(), "correct")),
                      ("s", Case("notebook metadata", (("file", NB, data),), "either", ("metadata",),
                                 alone=plain_layout()))], gradebook=True)
