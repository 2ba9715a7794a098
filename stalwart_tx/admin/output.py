"""How stalwart-admin prints a result: a line of text, or with ``--json`` its data as JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TextIO


def emitter(out: TextIO, as_json: bool) -> Callable[[str, object], None]:
    """``emit(text, data)``: one line to ``out``, the text or (``as_json``) the data."""

    def emit(text: str, data: object) -> None:
        out.write((json.dumps(data) if as_json else text) + "\n")

    return emit
