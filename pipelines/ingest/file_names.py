"""Warnings about a landing path that is not a plain file name (the file is read as usual)."""
from __future__ import annotations

import re
import unicodedata

from pipelines.findings import WARNING, finding

_NOT_UTF8_BYTE = re.compile(r"\\x([89a-fA-F][0-9a-fA-F])")
_URL_ESCAPED_SEP = re.compile(r"[%％](?:2[fFeE]|5[cC])")
_WINDOWS_FORBIDDEN = frozenset('<>:"|?*')
NAME_MAX_CHARS = 80


def _shown_name(text: str) -> str:
    """A name for a message: control characters written as \\xNN, very long names cut."""
    out = "".join(f"\\x{ord(ch):02x}" if unicodedata.category(ch) == "Cc" else ch for ch in text)
    return out if len(out) <= 120 else out[:60] + "…" + out[-40:]


def name_problems(name: str) -> list[dict]:
    """Warnings about a landing path that is not a plain file name (the file is read as
    usual): bytes that were not UTF-8 (written \\xNN by discover), control characters,
    path-like pieces ('..', backslashes, URL-escaped separators), a leading '-',
    characters Windows forbids, very long names."""
    out = []
    if _NOT_UTF8_BYTE.search(name):
        def raw_of(text: str) -> bytes:
            return re.sub(rb"\\x([89a-fA-F][0-9a-fA-F])", lambda m: bytes.fromhex(m.group(1).decode()),
                          text.encode("utf-8"))
        part = next(p for p in reversed(name.split("/")) if _NOT_UTF8_BYTE.search(p))
        raw = raw_of(part)
        out.append(finding(
            file=name, rule="file_name.not_utf8", severity=WARNING, dimension="ledger",
            value=raw_of(name).hex(),
            message=f"文件名「{_shown_name(part)}」不是 UTF-8 编码（原始字节 {raw.hex(' ')}），按 GBK 可读作"
                    f"「{_shown_name(raw.decode('gb18030', 'replace'))}」；文件已照常接收和存档，"
                    f"今后请直接用中文文件名保存（不要用旧版压缩软件打包）"))
    base = name.rsplit("/", 1)[-1]
    plain = _NOT_UTF8_BYTE.sub("", base)
    what = []
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        what.append("含有控制字符（如换行、制表符）")
    if ".." in plain:
        what.append("含有连续的点「..」")
    if "\\" in plain:
        what.append("含有反斜杠「\\」")
    if _URL_ESCAPED_SEP.search(plain):
        what.append("含有网址转义的路径符号（如 %2F）")
    if plain.startswith("-"):
        what.append("以「-」开头")
    if _WINDOWS_FORBIDDEN & set(plain):
        what.append("含有 Windows 不允许的字符（< > : \" | ? *）")
    if len(base) > NAME_MAX_CHARS:
        what.append(f"过长（{len(base)} 个字符）")
    if what:
        out.append(finding(
            file=name, rule="file_name.unsafe", severity=WARNING, dimension="ledger", value=_shown_name(base),
            message=f"文件名「{_shown_name(base)}」{'，'.join(what)}；文件已照常接收和存档，"
                    f"今后请只用汉字、字母、数字和括号命名文件（如「焦东村第47周周报.xlsx」）"))
    return out

