"""Tell what a native file is from its own bytes: ELF (and for which CPU), Mach-O or PE.

Parsed by hand so the check runs the same on any host, with no binutils. For ELF files the
highest `GLIBC_2.Y` symbol version they need is read from `.gnu.version_r`, which says whether
Lambda's glibc can load them at all.
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
SHT_GNU_VERNEED = 0x6FFFFFFE
_GLIBC_RE = re.compile(rb"^GLIBC_(\d+)\.(\d+)(?:\.\d+)?$")


@dataclass(frozen=True)
class BinaryInfo:
    kind: str  # "elf" | "macho" | "pe" | "unknown"
    machine: int | None = None  # ELF e_machine
    bits: int | None = None  # 32 | 64
    little_endian: bool | None = None
    glibc: tuple[int, int] | None = None  # highest GLIBC_x.y needed, if any

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
        glibc = _glibc_needed(data, bits, end)
    except (struct.error, IndexError, ValueError):
        glibc = None  # a damaged section table; the machine check still stands
    return BinaryInfo("elf", machine, bits, little, glibc)


def _glibc_needed(data: bytes, bits: int, end: str) -> tuple[int, int] | None:
    if bits == 64:
        (shoff,) = struct.unpack_from(end + "Q", data, 0x28)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x3A)
        sh_fmt, sh_size = end + "IIQQQQIIQQ", 64
    else:
        (shoff,) = struct.unpack_from(end + "I", data, 0x20)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x2E)
        sh_fmt, sh_size = end + "IIIIIIIIII", 40
    if not shoff or shentsize < sh_size:
        return None
    sections = [struct.unpack_from(sh_fmt, data, shoff + i * shentsize) for i in range(shnum)]
    best: tuple[int, int] | None = None
    for sec in sections:
        _, sh_type, _, _, offset, _, link, info, _, _ = sec
        if sh_type != SHT_GNU_VERNEED:
            continue
        str_off = sections[link][4]
        pos = offset
        for _ in range(info):  # Elf_Verneed entries
            _, cnt, _, aux, nxt = struct.unpack_from(end + "HHIII", data, pos)
            apos = pos + aux
            for _ in range(cnt):  # Elf_Vernaux entries
                _, _, _, name, anext = struct.unpack_from(end + "IHHII", data, apos)
                m = _GLIBC_RE.match(_cstr(data, str_off + name))
                if m:
                    version = (int(m.group(1)), int(m.group(2)))
                    best = version if best is None or version > best else best
                if not anext:
                    break
                apos += anext
            if not nxt:
                break
            pos += nxt
    return best


def _cstr(data: bytes, start: int) -> bytes:
    stop = data.index(b"\0", start)
    return data[start:stop]
