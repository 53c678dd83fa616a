"""What a call into student code can raise, as the hidden tests and the runner see it."""

from __future__ import annotations


class StudentError(Exception):
    """The student's function raised. `traceback` shows student frames only."""

    def __init__(self, fn: str, exc_type: str, message: str, traceback: str = ""):
        self.fn, self.exc_type, self.message, self.traceback = fn, exc_type, message, traceback
        super().__init__(f"{fn}: {exc_type}: {message}" if message else f"{fn}: {exc_type}")


class StudentTimeout(Exception):
    def __init__(self, fn: str, seconds: float):
        self.fn, self.seconds = fn, seconds
        super().__init__(f"{fn}: did not finish within {seconds:g} s")


class BudgetExhausted(StudentTimeout):
    def __init__(self, fn: str, seconds: float):
        super().__init__(fn, seconds)
        self.args = (f"{fn}: not run: the submission used up its total time budget of {seconds:g} s",)

    def __str__(self):
        return self.args[0]


class RepeatedTimeout(StudentTimeout):
    """Raised without calling: the function already hit the time limit MAX_TIMEOUTS_PER_FUNCTION times."""

    def __init__(self, fn: str, seconds: float, times: int):
        super().__init__(fn, seconds)
        self.args = (f"{fn}: not run: it already exceeded the {seconds:g} s time limit "
                     f"{times} times in this submission",)

    def __str__(self):
        return self.args[0]


class StudentCrash(Exception):
    """The student process died (memory, os._exit, a signal) or broke the protocol."""

    def __init__(self, fn: str, reason: str):
        self.fn, self.reason = fn, reason
        super().__init__(f"{fn}: {reason}")


class SandboxStartError(RuntimeError):
    """The sandbox itself could not start (a set-up problem, not the submission's)."""

