"""The trust boundary: the only code that starts or talks to a student process.

  limits.py    Limits and the session's fixed policies
  bwrap.py     the command line of the zygote (bubblewrap namespaces and binds, or none)
  host.py      SandboxHost: one long-lived zygote per grading worker
  session.py   StudentSession: one submission's process, its calls and time limits
  errors.py    what a call into student code can raise
  inprocess.py InProcessStudent: the same interface without isolation (benchmark floor only)
  inside/      what runs in the student's process; inside/wire.py is the format both sides speak

Hidden tests use RNG (a seeded numpy Generator made in the student process) and Handle.
"""

from .errors import (BudgetExhausted, RepeatedTimeout, SandboxStartError, StudentCrash,
                     StudentError, StudentTimeout)
from .host import SandboxHost
from .inside.wire import RNG, Handle, ProtocolError
from .limits import Limits
from .session import StudentSession

__all__ = ["BudgetExhausted", "Handle", "Limits", "ProtocolError", "RNG", "RepeatedTimeout",
           "SandboxHost", "SandboxStartError", "StudentCrash", "StudentError", "StudentSession",
           "StudentTimeout"]
