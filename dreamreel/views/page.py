"""One self-contained HTML page from the package's template, style and script and one JSON blob:
nothing is fetched, so it opens offline from file:// and can be mailed as one file."""
from __future__ import annotations

import base64
import html
import json
from importlib import resources
from typing import Any


def _asset(name: str) -> str:
    return resources.files("dreamreel.views").joinpath("assets", name).read_text(encoding="utf-8")


def embed_json(data: Any) -> str:
    """``data`` as JSON that is safe inside a <script> element and still valid JSON: ``<``, ``>``
    and ``&`` become ``\\u003c``, ``\\u003e`` and ``\\u0026`` (JSON escapes, so no ``</script>`` or
    ``<!--`` can end or change the element, and JSON.parse reads them back as they were), and
    the characters JavaScript treats as line ends are escaped. They only ever stand inside
    strings, so nothing else changes. (``<\\!--`` was tried before: not a JSON escape, so one
    comment in an expression made the page's JSON.parse throw and the page blank.)"""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def build_page(data: dict[str, Any], audio: bytes | None = None, mime: str = "audio/ogg") -> str:
    """The page for a timeline or report ``data`` dict; ``audio`` (an Ogg Opus file, say) is
    carried in the page for its player."""
    src = f' src="data:{mime};base64,{base64.b64encode(audio).decode()}"' if audio else ""
    parts = {"TITLE": html.escape(str(data.get("title", "dreamreel"))), "CSS": _asset("page.css"),
             "JS": _asset("lanes.js"), "DATA": embed_json(data), "AUDIO": src}
    page = _asset("page.html")
    # One pass over the template's own placeholders: a value that happens to hold "{{JS}}" is data.
    out, pos = [], 0
    while (i := page.find("{{", pos)) >= 0:
        j = page.index("}}", i)
        out += [page[pos:i], parts[page[i + 2 : j]]]
        pos = j + 2
    return "".join(out) + page[pos:]


def timeline_page(data: dict[str, Any], audio: bytes | None = None) -> str:
    """OUTPUT.timeline.html."""
    return build_page(data, audio)
