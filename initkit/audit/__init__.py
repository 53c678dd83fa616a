"""`initkit audit`: how strong and how fair are the hidden tests (docs/audit.md).

alternatives.py  the course's audit folder: alternative solutions, probes, accepted survivors
mutate.py        mutants (mutmut's operators and numpy-specific ones), one site at a time
screen.py        differential probing: drops mutants that behave exactly like their original
run.py           build and grade everything through the real batch, classify
report.py        JSON and HTML
"""

from .run import run_audit

__all__ = ["run_audit"]
