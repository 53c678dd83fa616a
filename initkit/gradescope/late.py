"""The optional late policy of a Gradescope autograder: chosen when the autograder is built, applied
to each submission from the times in Gradescope's /autograder/submission_metadata.json.

A policy is written `PERCENT/PERIOD[,max=PERCENT][,grace=MINUTES]`:

    10/day            10 % of the score off per started day after the due date
    2/hour,max=50     2 % per started hour, never more than 50 %
    100/day           no points after the due date
    10/day,grace=15   submissions up to 15 minutes late are on time; later ones lose 10 % per
                      started day counted from the due date

The due date is the assignment's (`assignment.due_date`), or a later one Gradescope gives the
submitter (an extension: `users[].assignment.due_date`, when the metadata has it); the submission
time is `created_at`. Pure functions: no file is read here.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from datetime import datetime

PERIODS = {"hour": 3600, "day": 86400, "week": 7 * 86400}
_SPEC = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%?\s*/\s*(hour|day|week)s?\s*((?:,\s*\w+\s*=\s*[\d.]+\s*)*)$",
                   re.IGNORECASE)


class LatePolicyError(ValueError):
    """A late policy that cannot be read; str() says what is expected."""


@dataclass(frozen=True)
class LatePolicy:
    percent: float            # of the score, per started period late
    period: str               # hour, day or week
    max_percent: float = 100.0
    grace_minutes: float = 0.0

    @classmethod
    def parse(cls, spec: str) -> "LatePolicy":
        found = _SPEC.match(spec or "")
        if not found:
            raise LatePolicyError(f"late policy {spec!r}: expected PERCENT/PERIOD[,max=PERCENT]"
                                  "[,grace=MINUTES] with PERIOD hour, day or week (e.g. 10/day)")
        options = {}
        for part in filter(None, (p.strip() for p in found.group(3).split(","))):
            key, _, value = (s.strip() for s in part.partition("="))
            if key.lower() not in ("max", "grace") or key.lower() in options:
                raise LatePolicyError(f"late policy {spec!r}: unknown or repeated option {key!r} "
                                      "(max=PERCENT, grace=MINUTES)")
            options[key.lower()] = float(value)
        policy = cls(float(found.group(1)), found.group(2).lower(),
                     options.get("max", 100.0), options.get("grace", 0.0))
        if not 0 < policy.percent <= 100 or not 0 < policy.max_percent <= 100:
            raise LatePolicyError(f"late policy {spec!r}: percentages must be in (0, 100]")
        return policy

    def describe(self) -> str:
        text = f"{_n(self.percent)}% of the score per started {self.period} late"
        if self.max_percent < 100:
            text += f", at most {_n(self.max_percent)}%"
        if self.grace_minutes:
            text += f", after {_n(self.grace_minutes)} minutes of grace"
        return text

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict | None) -> "LatePolicy | None":
        return cls(**data) if data else None


@dataclass(frozen=True)
class Lateness:
    """What the policy did to one submission."""

    penalty_percent: float    # 0 when on time (or the times are unknown)
    message: str              # for the student: when it was due, when submitted, what it cost
    late_seconds: float = 0.0


def _n(x: float) -> str:
    return f"{x:g}"


def _when(text) -> datetime | None:
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None   # a time without a zone is ambiguous


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    parts = [f"{v} {unit}{'' if v == 1 else 's'}"
             for v, unit in ((days, "day"), (hours, "hour"), (minutes, "minute")) if v]
    return " ".join(parts) or f"{int(seconds)} seconds"


def due_date(metadata: dict) -> datetime | None:
    """The submitter's due date: the assignment's, or a later one given to a submitter."""
    assignment = metadata.get("assignment") if isinstance(metadata.get("assignment"), dict) else {}
    dates = [_when(assignment.get("due_date"))]
    for user in metadata.get("users") or []:
        own = user.get("assignment") if isinstance(user, dict) else None
        if isinstance(own, dict):
            dates.append(_when(own.get("due_date")))
    dates = [d for d in dates if d is not None]
    return max(dates) if dates else None


def lateness(policy: LatePolicy, metadata: dict | None) -> Lateness:
    """The penalty `policy` gives the submission `metadata` describes (Gradescope's
    submission_metadata.json, parsed). Unknown times: no penalty, and the message says so."""
    metadata = metadata if isinstance(metadata, dict) else {}
    due, submitted = due_date(metadata), _when(metadata.get("created_at"))
    if due is None or submitted is None:
        missing = "due date" if due is None else "submission time"
        return Lateness(0.0, f"Late policy ({policy.describe()}): no penalty applied, the "
                             f"{missing} is not known.")
    late = (submitted - due).total_seconds()
    if late <= policy.grace_minutes * 60:
        return Lateness(0.0, "", max(late, 0.0))
    periods = math.ceil(late / PERIODS[policy.period])
    penalty = min(policy.max_percent, policy.percent * periods)
    return Lateness(penalty, f"Submitted {_duration(late)} after the due date "
                             f"({due.isoformat(timespec='minutes')}): {periods} started "
                             f"{policy.period}{'' if periods == 1 else 's'} late, "
                             f"{_n(penalty)}% off the score (late policy: {policy.describe()}).",
                    late)
