"""Gradescope autograders from a course (`initkit gradescope`, docs/gradescope.md).

  build.py     the zip: setup.sh, run_autograder, the kit's wheel, the course bundle, gradescope.json
  wheel.py     a pip-installable wheel of the installed kit, from the package folder
  run.py       what run_autograder runs: find the upload, grade it, write results.json (always,
               but where the required bubblewrap cannot start: then no grade at all)
  results.py   one result -> Gradescope's results.json (pure)
  late.py      the optional late policy (pure)
  templates/   setup.sh and run_autograder
"""

__all__ = ["Autograder", "build_autograder", "describe"]


def __getattr__(name: str):
    # Lazy: `python -m initkit.gradescope.run` must not import the builder first.
    if name in __all__:
        from . import build

        return getattr(build, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
