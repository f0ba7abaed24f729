"""Tell what a native file is from its own bytes: ELF (and for which CPU), Mach-O or PE.

Parsed by hand so the check runs the same on any host, with no binutils (no maintained
library reads ELF dynamic sections in pure Python without pulling in much more). For ELF files
two things say whether Lambda's OS can load them at all: the libraries they name in
`DT_NEEDED` (`.dynamic`), and the highest symbol versions they need from glibc (`GLIBC_2.Y`)
and from libstdc++ (`GLIBCXX_3.4.Z`, `CXXABI_1.3.Z`), read from `.gnu.version_r`.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

ELF_MAGIC = b"\x7fELF"
MACHO_MAGICS = {
    b"\xfe\xed\xfa\xce",
    b"\xce\xfa\xed\xfe",
    b"\xfe\xed\xfa\xcf",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",  # universal ("fat") binary
    b"\xca\xfe\xba\xbf",
}
PE_MAGIC = b"MZ"
SHT_DYNAMIC = 6
SHT_GNU_VERNEED = 0x6FFFFFFE
DT_NEEDED = 1
_VERSION_RE = re.compile(rb"^(GLIBC|GLIBCXX|CXXABI)_(\d+(?:\.\d+)*)$")


@dataclass(frozen=True)
class BinaryInfo:
    kind: str  # "elf" | "macho" | "pe" | "unknown"
    machine: int | None = None  # ELF e_machine
    bits: int | None = None  # 32 | 64
    little_endian: bool | None = None
    glibc: tuple[int, int] | None = None  # highest GLIBC_x.y needed, if any
    needed: tuple[str, ...] = ()  # DT_NEEDED: the shared libraries it links against
    # Highest version needed per family ("GLIBCXX": (3, 4, 22), "CXXABI": (1, 3, 9), ...)
    versions: tuple[tuple[str, tuple[int, ...]], ...] = ()

    def version(self, family: str) -> tuple[int, ...] | None:
        return dict(self.versions).get(family)

    @property
    def native(self) -> bool:
        return self.kind != "unknown"


def looks_native(head: bytes) -> bool:
    """Whether the first bytes of a file are an ELF or Mach-O header (PE needs a name hint)."""
    return head[:4] == ELF_MAGIC or head[:4] in MACHO_MAGICS - {b"\xca\xfe\xba\xbe"}


def sniff(data: bytes) -> BinaryInfo:
    if data[:4] == ELF_MAGIC:
        return _elf(data)
    if data[:4] in MACHO_MAGICS:
        return BinaryInfo("macho")
    if data[:2] == PE_MAGIC:
        return BinaryInfo("pe")
    return BinaryInfo("unknown")


def _elf(data: bytes) -> BinaryInfo:
    if len(data) < 20:
        return BinaryInfo("elf")
    bits = {1: 32, 2: 64}.get(data[4])
    little = {1: True, 2: False}.get(data[5])
    if bits is None or little is None:
        return BinaryInfo("elf")
    end = "<" if little else ">"
    (machine,) = struct.unpack_from(end + "H", data, 18)
    try:
        sections = _sections(data, bits, end)
        versions = _versions_needed(data, sections, end)
        needed = _needed(data, sections, bits, end)
    except (struct.error, IndexError, ValueError):
        versions, needed = {}, ()  # a damaged section table; the machine check still stands
    glibc = versions.get("GLIBC")
    return BinaryInfo(
        "elf",
        machine,
        bits,
        little,
        (glibc[0], glibc[1]) if glibc and len(glibc) >= 2 else None,
        needed,
        tuple(sorted(versions.items())),
    )


# (sh_type, sh_offset, sh_size, sh_link, sh_info) of each section header
_Section = tuple[int, int, int, int, int]


def _sections(data: bytes, bits: int, end: str) -> list[_Section]:
    if bits == 64:
        (shoff,) = struct.unpack_from(end + "Q", data, 0x28)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x3A)
        sh_fmt, sh_size = end + "IIQQQQIIQQ", 64
    else:
        (shoff,) = struct.unpack_from(end + "I", data, 0x20)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x2E)
        sh_fmt, sh_size = end + "IIIIIIIIII", 40
    if not shoff or shentsize < sh_size:
        return []
    out: list[_Section] = []
    for i in range(shnum):
        _, sh_type, _, _, offset, size, link, info, _, _ = struct.unpack_from(
            sh_fmt, data, shoff + i * shentsize
        )
        out.append((sh_type, offset, size, link, info))
    return out


def _versions_needed(data: bytes, sections: list[_Section], end: str) -> dict[str, tuple[int, ...]]:
    best: dict[str, tuple[int, ...]] = {}
    for sh_type, offset, _, link, info in sections:
        if sh_type != SHT_GNU_VERNEED:
            continue
        str_off = sections[link][1]
        pos = offset
        for _ in range(info):  # Elf_Verneed entries
            _, cnt, _, aux, nxt = struct.unpack_from(end + "HHIII", data, pos)
            apos = pos + aux
            for _ in range(cnt):  # Elf_Vernaux entries
                _, _, _, name, anext = struct.unpack_from(end + "IHHII", data, apos)
                m = _VERSION_RE.match(_cstr(data, str_off + name))
                if m:
                    family = m.group(1).decode()
                    version = tuple(int(p) for p in m.group(2).split(b"."))
                    if version > best.get(family, ()):
                        best[family] = version
                if not anext:
                    break
                apos += anext
            if not nxt:
                break
            pos += nxt
    return best


def _needed(data: bytes, sections: list[_Section], bits: int, end: str) -> tuple[str, ...]:
    entry_fmt, entry_size = (end + "qQ", 16) if bits == 64 else (end + "iI", 8)
    names: list[str] = []
    for sh_type, offset, size, link, _ in sections:
        if sh_type != SHT_DYNAMIC:
            continue
        str_off = sections[link][1]
        for pos in range(offset, offset + size - entry_size + 1, entry_size):
            tag, value = struct.unpack_from(entry_fmt, data, pos)
            if tag == 0:  # DT_NULL ends the table
                break
            if tag == DT_NEEDED:
                names.append(_cstr(data, str_off + value).decode("utf-8", "replace"))
    return tuple(names)


def _cstr(data: bytes, start: int) -> bytes:
    stop = data.index(b"\0", start)
    return data[start:stop]
