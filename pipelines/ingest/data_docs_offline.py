"""GX Data Docs that load nothing from the internet.

GX renders its pages with scripts and styles from CDNs (jQuery, Bootstrap, bootstrap-table,
Vega, Font Awesome) and logos from its web assets; an office network without internet gets
pages that are unstyled, with a broken logo, and an index whose table stays empty. The
installed package ships only its own styles, fonts and images (copied into the site's
``static/``), so after each build every page's external ``<script>``/``<link>`` is removed,
an external ``<img>`` or CSS ``url()`` (the GX logos) is pointed at the local copy, and ``static/offline.js``
stands in for the few calls the pages make into jQuery and bootstrap-table: the index's
table of results is drawn from its inline data as a plain table with links.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

EXTERNAL = r"""["'](?:https?:)?//[^"']*["']"""
SCRIPT_RE = re.compile(rf"<script\b[^>]*\bsrc={EXTERNAL}[^>]*>\s*</script>", re.I)
LINK_RE = re.compile(rf"<link\b[^>]*\bhref={EXTERNAL}[^>]*>", re.I)
IMG_SRC_RE = re.compile(rf"(<img\b[^>]*\bsrc=){EXTERNAL}", re.I)
CSS_URL_RE = re.compile(r"""url\(\s*["']?(?:https?:)?//[^)"']*["']?\s*\)""", re.I)
LOGO = Path("static") / "images" / "logo-long.png"
SHIM = Path(__file__).with_name("data_docs_offline.js")
SHIM_REL = Path("static") / "scripts" / "offline.js"


def make_offline(docs: Path) -> int:
    """Rewrite every page and style sheet under ``docs`` to load only local files; returns
    how many changed."""
    docs = Path(docs)
    (docs / SHIM_REL).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SHIM, docs / SHIM_REL)
    changed = 0
    for page in [*docs.rglob("*.html"), *docs.rglob("*.css")]:
        text = page.read_text(encoding="utf-8")
        new = offline_page(text, os.path.relpath(docs, page.parent).replace(os.sep, "/"))
        if new != text:
            page.write_text(new, encoding="utf-8")
            changed += 1
    return changed


def offline_page(html: str, root: str) -> str:
    """One page (or style sheet) without external resources; ``root`` is the site's root
    relative to it."""
    if not any(rx.search(html) for rx in (SCRIPT_RE, LINK_RE, IMG_SRC_RE, CSS_URL_RE)):
        return html
    html = LINK_RE.sub("", html)
    first = SCRIPT_RE.search(html)
    shim = f'<script src="{root}/{SHIM_REL.as_posix()}"></script>' if first else ""
    if first:
        html = html[: first.start()] + shim + SCRIPT_RE.sub("", html[first.end():])
    logo = f"{root}/{LOGO.as_posix()}"
    return CSS_URL_RE.sub(f"url('{logo}')", IMG_SRC_RE.sub(lambda m: f'{m.group(1)}"{logo}"', html))
