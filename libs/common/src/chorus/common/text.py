"""What text may cross a boundary (HTTP, bus, a network's answer) into PostgreSQL and out to the
networks. PostgreSQL cannot store NUL in text, and neither it nor any network takes a lone
surrogate; other control characters are invisible in a post and usually an injection attempt.

    title: SafeLine          # one line: titles, ids, handles, tokens
    message: SafeText        # may hold line breaks and tabs
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

from pydantic import BeforeValidator

__all__ = ["SafeLine", "SafeText", "line_problem", "printable", "text_problem"]

# C0 controls but tab, line feed and carriage return; DEL; C1 controls; lone surrogates (a
# JSON "\ud800" decodes to one); the two noncharacters every plane ends with in the BMP.
_NOT_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_LINE_BREAK = re.compile(r"[\t\n\r\u2028\u2029]")


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored or posted, or None."""
    found = _NOT_TEXT.search(value)
    if found is None:
        return None
    return f"contains the control character U+{ord(found.group()):04X} at position {found.start()}"


def printable(value: str) -> str:
    """`value` with what SafeText refuses taken out: for text we did not write (a network's
    error message) that goes into an event."""
    return _NOT_TEXT.sub("", value)


def line_problem(value: str) -> str | None:
    """As `text_problem`, and line breaks and tabs are refused too."""
    problem = text_problem(value)
    if problem is None and (found := _LINE_BREAK.search(value)) is not None:
        problem = f"contains a line break or tab (U+{ord(found.group()):04X})"
    return problem


def _checked(problem_of: Callable[[str], str | None]) -> BeforeValidator:
    # Before a model's whitespace stripping: "\r" + 200 characters is a line break where one
    # line is asked for, refused as sent, not stripped into a valid 200 (the schema's maxLength
    # counts what is sent, and so must we). Anything not a string is left to the type's check.
    def check(value: object) -> object:
        if isinstance(value, str):
            problem = problem_of(value)
            if problem is not None:
                raise ValueError(problem)
        return value

    return BeforeValidator(check)


SafeText = Annotated[str, _checked(text_problem)]
SafeLine = Annotated[str, _checked(line_problem)]
