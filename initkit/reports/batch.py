"""A batch's reports: the one interface between grading and the reports. Grading hands each
result over as it is filed; the reports return what they did as data (ReportsOutcome) and never
write into grading's summary.

    reports = BatchReports(course, out_dir, submissions=..., gradebook=..., autograded=...,
                           students=None)         # before the workers start
    ... each result grading files:  reports.add(result, timestamp)    # never blocks grading
    outcome = reports.finish(summary)             # grading's BatchSummary -> ReportsOutcome
    reports.close()                               # always: an interrupted batch stops the writer

The writing (writer.ReportWriter) runs in a child process forked at the start
(initkit/child_process.py): it imports nbgrader and opens the gradebook while the first
submissions grade, writes each student's files as their result arrives, and at `finish` only
what is left (the class-wide files). A process, not a thread: a thread would compete with the
grading process for its GIL, and the pool forks new workers after a crash, which a thread in the
parent makes unsafe. If the child cannot be started or dies, `finish` writes every report in
this process: the same bytes, nothing lost. An interrupted batch leaves the reports of the
students filed so far (as `nbgrader autograde` leaves their gradebook rows); the next run
completes them and the class-wide files.

A regrade of some students (`students`) is the reports' business too: the class's rows are the
last run's (grades.json) with theirs replaced, and the outcome says whose score changed.
"""

from __future__ import annotations

import pickle
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from .tables import last_rows
from .writer import ReportWriter, shown_row

if TYPE_CHECKING:
    from ..course import Course
    from ..grading.batch import BatchSummary


@dataclass(frozen=True)
class ReportsOutcome:
    """What the reports of a batch did."""

    files: Mapping[str, str]           # what went where: feedback, autograded, gradebook,
    #                                    grades.csv, grades.json, report
    failed: Mapping[str, str]          # student -> why their reports failed (an error row)
    rows: tuple[dict, ...]             # the class's rows as grades.csv and grades.json show them,
    #                                    by student, without the student's code
    regraded: frozenset[str] | None    # a regrade of these students (None: a whole batch)
    changes: tuple[tuple[str, float | None, float], ...]   # regraded: (student, before, now)
    #                                                        of each whose score changed
    seconds: float                     # spent in finish: after the last grade
    max_rss: int | None = None         # bytes: the peak memory of the process that wrote them
    #                                    in the background (None: written in this process)


class BatchReports:
    """Every report of a batch, written while it grades (see the module's doc). Arguments as
    writer.ReportWriter's; `background=False` writes them all in this process at `finish`."""

    def __init__(self, course: "Course", out_dir, *, submissions=None,
                 gradebook: str | bool | None = None, autograded: Path | None = None,
                 students=None, background: bool = True):
        self.course, self.out = course, Path(out_dir)
        self.options = {"submissions": submissions, "gradebook": gradebook,
                        "autograded": autograded, "students": students}
        self.regraded = frozenset(students) if students is not None else None
        # A regrade's rows are the last run's with the regraded replaced: read before any write.
        self._previous = last_rows(self.out) if students is not None else {}
        self._added: dict[str, tuple[dict, str | None]] = {}   # what the child was given
        self._child = None
        if background:
            from ..child_process import Child

            self._child = Child.start(self._serve, name="initkit-reports")

    def add(self, result: dict, timestamp: str | None = None) -> None:
        """One student's result as grading filed it; queued if the writer is busy, so grading
        never waits for the reports."""
        if self._child is not None and self._child.send(("add", result, timestamp)):
            self._added[result["student"]] = (result, timestamp)

    def finish(self, summary: "BatchSummary") -> ReportsOutcome:
        """The rest of the reports, from grading's summary (left as it is): what `add` did not
        get (cached results, a result that changed since), then the class-wide files. Raises
        GradebookError (after writing everything else) if the gradebook could not be used."""
        started = time.perf_counter()
        stamps = summary.timestamps
        reply = None
        if self._child is not None:
            for r in summary.results:
                stamp = stamps.get(r["student"])
                if not self._given(r, stamp) and not self._child.send(("add", r, stamp), block=True):
                    break
            reply = self._child.request(("finish",))
            self._child.stop()
        max_rss = self._child.max_rss if reply is not None else None
        if reply is None:             # no child, or it died: everything, here
            writer = ReportWriter(self.course, self.out, **self.options)
            try:
                for r in summary.results:
                    writer.add(r, stamps.get(r["student"]))
                reply = ("ok", *writer.finish())
            finally:
                writer.close()
        if reply[0] == "raised":
            raise reply[1]
        _, files, failed = reply
        rows = {**self._previous, **{r["student"]: shown_row(r, failed.get(r["student"]),
                                                            self.course.criteria)
                                     for r in summary.results}}
        return ReportsOutcome(files=files, failed=failed, rows=tuple(rows[s] for s in sorted(rows)),
                              regraded=self.regraded, changes=self._changes(summary.results),
                              seconds=time.perf_counter() - started,
                              max_rss=max_rss)

    def close(self) -> None:
        """Stop the writer's process if it still runs (an interrupted batch: it ends the file it
        is writing, then stops) and wait for it. Idempotent."""
        if self._child is not None:
            self._child.stop()

    def _given(self, result: dict, timestamp: str | None) -> bool:
        """Whether the child already has this very result with this timestamp."""
        given = self._added.get(result["student"])
        return given is not None and (given[0] is result or given[0] == result) and \
            (given[1] or None) == timestamp

    def _changes(self, results: list[dict]) -> tuple:
        if self.regraded is None:
            return ()
        before = self._previous
        return tuple((r["student"], before[r["student"]]["score"] if r["student"] in before else None,
                      r["score"]) for r in sorted(results, key=lambda r: r["student"])
                     if r["student"] not in before or before[r["student"]].get("score") != r["score"])

    def _serve(self, channel) -> None:
        """The child's life: a ReportWriter fed from the parent, until `finish`."""
        from .writer import warm_up

        warm_up()          # nbgrader and matplotlib imported while the first submissions grade
        writer = ReportWriter(self.course, self.out, **self.options)
        try:
            while (message := channel.receive())[0] == "add":
                writer.add(message[1], message[2])
            try:
                reply = ("ok", *writer.finish())
            except Exception as exc:  # noqa: BLE001 - e.g. GradebookError: raised in the parent
                reply = ("raised", _picklable(exc))
            channel.reply(reply)
        finally:
            writer.close()




def _picklable(exc: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - an exception that cannot travel: its text does
        return RuntimeError(f"{type(exc).__name__}: {exc}")
