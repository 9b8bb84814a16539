"""Rendering an HTML page with headless chromium and reading the PNG back (no Pillow)."""
from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import numpy as np

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def screenshot(html: Path, png: Path, size: str = "1400,2000") -> Path:
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="huizong-chromium-") as profile:
        out = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                              "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                              f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={size}",
                              html.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    assert png.exists(), out.stderr[-2000:]
    return png


def read_png(path: Path) -> np.ndarray:
    """Decode an 8-bit RGB/RGBA PNG into an (h, w, channels) uint8 array."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, [], 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and color in (2, 6), (depth, color)
            ch = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat.append(chunk)
        pos += 12 + length
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8).reshape(height, 1 + width * ch)
    out = np.zeros((height, width * ch), dtype=np.int32)
    prev = np.zeros(width * ch, dtype=np.int32)
    for y in range(height):
        f, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if f == 0:
            cur = line
        elif f == 1:
            cur = line.reshape(width, ch).cumsum(axis=0).reshape(-1) % 256
        elif f == 2:
            cur = (line + prev) % 256
        else:
            cur = np.zeros_like(line)
            for i in range(width * ch):
                a = cur[i - ch] if i >= ch else 0
                b = prev[i]
                if f == 3:
                    cur[i] = (line[i] + (a + b) // 2) % 256
                else:
                    c = prev[i - ch] if i >= ch else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                    cur[i] = (line[i] + pred) % 256
        out[y] = cur
        prev = cur
    return out.reshape(height, width, ch).astype(np.uint8)


def section_page(html: Path, start: str, end: str, out: Path) -> Path:
    """A page holding only the report's part between two markers (same styles)."""
    text = html.read_text(encoding="utf-8")
    head = text[:text.index("<main>") + len("<main>")]
    body = text[text.index(start):text.index(end) + len(end)]
    out.write_text(head + body + "</main></body></html>", encoding="utf-8")
    return out
