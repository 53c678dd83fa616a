"""The one Jinja2 environment every HTML page is rendered with (feedback pages, report.html, the
audit page): autoescaped, so a student's `<script>` in an exception arrives as text; strict, so a
template that names a missing value fails in the tests rather than rendering a blank."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jinja2

PACKAGE = Path(__file__).parent
# Each package keeps its templates beside its code; a template is named by its file name.
FOLDERS = (PACKAGE / "reports" / "templates", PACKAGE / "audit" / "templates")


@functools.cache
def environment() -> "jinja2.Environment":
    # Built once, on first use: importing the reports should not cost a template load.
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader([str(f) for f in FOLDERS]),
                              autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def render(template: str, **values) -> str:
    return environment().get_template(template).render(**values)
