"""Characters a clerk cannot see, taken out of every text cell before anything reads it.

A value copied from a web page, a chat message or another system often carries
characters that Excel and WPS do not show: zero-width spaces and joiners (U+200B–U+200D,
U+2060), a byte-order mark inside the cell (U+FEFF), direction marks, soft hyphens, C0/C1
control characters (tab, line feed and carriage return are kept: a line break inside a
cell is the clerk's own). They are removed. Spaces of other widths (NBSP U+00A0, the
ideographic space U+3000, U+2000–U+200A, ...) become plain spaces, which every rule
already trims. So "贫困\\u200b" reads 贫困, and "\\ufeff4116221072010001" is the household id.

A sheet is searched once, as one text; only the cells of a sheet that holds such a
character are rewritten.
"""
from __future__ import annotations

import re

_REMOVED = [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0), 0xAD, 0x034F,
            0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, *range(0x200B, 0x2010), *range(0x202A, 0x202F),
            *range(0x2060, 0x2070), 0x3164, 0xFEFF, 0xFFA0, *range(0xFFF0, 0xFFF9)]
_SPACES = [0x00A0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000]

TABLE = str.maketrans({**dict.fromkeys(_REMOVED), **dict.fromkeys(_SPACES, " ")})
_FOUND = re.compile("[" + "".join(re.escape(chr(c)) for c in (*_REMOVED, *_SPACES)) + "]")


def strip_invisible(rows: list[list]) -> None:
    """Clean every text cell of ``rows`` in place (see the module)."""
    texts = [v for row in rows for v in row if type(v) is str]
    if not texts or not _FOUND.search("\t".join(texts)):
        return
    for row in rows:
        for j, v in enumerate(row):
            if type(v) is str and _FOUND.search(v):
                row[j] = v.translate(TABLE)
