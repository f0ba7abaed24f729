"""Which files the arguments name: files, folders (recursive) and globs, each with the path
its key is made of.

Nothing here opens a file. Every entry is classified from its `lstat` first, so a FIFO, a
socket or a device is never opened (opening a FIFO blocks until someone writes to it), and
each entry that is not uploaded is reported with the reason, never dropped in silence:

- hidden names (`.git`, `.DS_Store`) inside folders and globs are skipped quietly, by design;
- FIFOs, sockets and devices: skipped with a warning;
- links: a link named on the command line is followed; a link met inside a folder (or a
  glob's fixed folder) is followed only if it leads inside that folder, unless
  `follow_links`. Dangling and looping links (and links back to a parent folder) are
  skipped with a warning naming them;
- folders that cannot be listed and entries that cannot be inspected are failures.

The relative paths are built from directory entry names only, so they never hold a `.` or
`..` segment; a pattern with `..` after its first wildcard is refused.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from resizer_cli.errors import ResizerError

_MAGIC = re.compile(r"[*?[]")  # what glob itself takes for a wildcard


@dataclass(frozen=True)
class Found:
    path: Path  # as reached (through links): what the transfer opens
    rel: str  # "/"-separated path the key is made of


@dataclass(frozen=True)
class Refusal:
    """An entry that is not uploaded: `failed` ones count as failed files (exit code 1)."""

    path: str
    code: str
    reason: str
    failed: bool = False
    key: str | None = None


@dataclass
class Expansion:
    found: list[Found] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


_SPECIAL = (
    (stat.S_ISFIFO, "fifo", "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "socket", "a socket"),
    (stat.S_ISCHR, "device", "a character device"),
    (stat.S_ISBLK, "device", "a block device"),
)


def _inside(real: str, folder: str) -> bool:
    return real == folder or real.startswith(folder.rstrip(os.sep) + os.sep)


def _strerror(exc: OSError) -> str:
    return exc.strerror or str(exc)


class _Expander:
    def __init__(self, follow_links: bool) -> None:
        self.follow_links = follow_links
        self.out = Expansion()

    def refuse(self, path: Path, code: str, reason: str, *, failed: bool = False) -> None:
        self.out.refused.append(Refusal(str(path), code, reason, failed))

    # -- one entry ---------------------------------------------------------------------------

    def _target(self, path: Path, folder: str | None) -> os.stat_result | None:
        """The stat of what `path` leads to, or None after refusing it.

        `folder` is the real path links must stay inside; None for a path the user named.
        """
        try:
            st = os.lstat(path)
        except OSError as exc:
            self.refuse(path, "unreadable", f"cannot inspect it: {_strerror(exc)}", failed=True)
            return None
        if not stat.S_ISLNK(st.st_mode):
            return st
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self.refuse(path, "broken_link",
                        f"a link to {os.readlink(path)}, which does not exist")
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                self.refuse(path, "link_loop", "a link that leads back to itself (a loop)")
            else:
                self.refuse(path, "unreadable", f"cannot follow this link: {_strerror(exc)}",
                            failed=True)
            return None
        if folder is not None and not self.follow_links:
            real = os.path.realpath(path)
            if not _inside(real, folder):
                self.refuse(path, "link_outside",
                            f"a link to {real}, outside the folder being uploaded "
                            "(pass --follow-links to upload what it points to)")
                return None
        return st

    def named(self, path: Path) -> None:
        """A path given as an argument: a file keyed by its name, or a folder walked with keys
        relative to it. A link given as an argument is followed: the user named it."""
        st = self._target(path, None)
        if st is None:
            return
        if stat.S_ISDIR(st.st_mode):
            self._walk(path, "", os.path.realpath(path), frozenset({(st.st_dev, st.st_ino)}))
        else:
            self._add(path, path.name, st)

    def visit(self, path: Path, rel: str, folder: str,
              parents: frozenset[tuple[int, int]]) -> None:
        """An entry met inside `folder` (a real path): add a file, walk a folder, or refuse."""
        st = self._target(path, folder)
        if st is None:
            return
        if stat.S_ISDIR(st.st_mode):
            ident = (st.st_dev, st.st_ino)
            if ident in parents:
                self.refuse(path, "link_loop", "a link to a folder that contains it (a loop)")
                return
            self._walk(path, rel, folder, parents | {ident})
        else:
            self._add(path, rel, st)

    def _walk(self, path: Path, rel: str, folder: str,
              parents: frozenset[tuple[int, int]]) -> None:
        for name in self._names(path):
            self.visit(path / name, _join(rel, name), folder, parents)

    def _add(self, path: Path, rel: str, st: os.stat_result) -> None:
        if stat.S_ISREG(st.st_mode):
            self.out.found.append(Found(path, rel))
            return
        for test, code, what in _SPECIAL:
            if test(st.st_mode):
                self.refuse(path, code, f"{what}, not a regular file")
                return
        self.refuse(path, "special", "not a regular file")

    def _names(self, folder: Path, *, hidden: bool = False) -> list[str]:
        try:
            with os.scandir(folder) as entries:
                names = [e.name for e in entries]
        except OSError as exc:
            self.refuse(folder, "unreadable",
                        f"cannot list this folder: {_strerror(exc)}; nothing in it is uploaded",
                        failed=True)
            return []
        return sorted(n for n in names if hidden or not n.startswith("."))

    # -- globs -------------------------------------------------------------------------------

    def glob(self, arg: str) -> None:
        pattern = os.path.expanduser(arg)
        parts = Path(pattern).parts
        fixed = 0
        while fixed < len(parts) - 1 and not _MAGIC.search(parts[fixed]):
            fixed += 1
        base = Path(*parts[:fixed]) if fixed else Path(".")
        segments = [s for s in parts[fixed:] if s != "."]
        if ".." in segments:
            raise ResizerError(
                f"the pattern {arg!r} has '..' after a wildcard",
                "put the '..' before the first wildcard, e.g. '../photos/*.jpg'",
            )
        before = (len(self.out.found), len(self.out.refused))
        try:
            st = os.stat(base)
        except OSError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode):
            self._match(base, "", segments, os.path.realpath(base),
                        frozenset({(st.st_dev, st.st_ino)}))
        if (len(self.out.found), len(self.out.refused)) == before:
            raise ResizerError(f"no file matches {arg!r}", "check the pattern")

    def _match(self, folder: Path, rel: str, segments: list[str], inside: str,
               parents: frozenset[tuple[int, int]]) -> None:
        seg, rest = segments[0], segments[1:]
        if seg == "**":
            if not rest:  # everything below, as glob's trailing '**' gives
                for name in self._names(folder):
                    self.visit(folder / name, _join(rel, name), inside, parents)
                return
            self._match(folder, rel, rest, inside, parents)
            for name in self._names(folder):
                self._descend(folder / name, _join(rel, name), segments, inside, parents)
            return
        if _MAGIC.search(seg):
            # As glob: a wildcard does not match a leading dot unless the pattern has one.
            names = [n for n in self._names(folder, hidden=seg.startswith("."))
                     if fnmatch.fnmatch(n, seg)]
        else:
            names = [seg] if os.path.lexists(folder / seg) else []
        for name in names:
            if rest:
                self._descend(folder / name, _join(rel, name), rest, inside, parents)
            else:
                self.visit(folder / name, _join(rel, name), inside, parents)

    def _descend(self, path: Path, rel: str, segments: list[str], inside: str,
                 parents: frozenset[tuple[int, int]]) -> None:
        """Go on matching `segments` inside `path` if it is a folder (links as in `visit`)."""
        try:
            if not stat.S_ISDIR(os.stat(path).st_mode):
                return  # a file, or a broken link: cannot hold what the rest names
        except OSError:
            return
        st = self._target(path, inside)
        if st is None:
            return
        ident = (st.st_dev, st.st_ino)
        if ident in parents:
            self.refuse(path, "link_loop", "a link to a folder that contains it (a loop)")
            return
        self._match(path, rel, segments, inside, parents | {ident})


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


def expand_paths(args: Sequence[str], *, follow_links: bool = False) -> Expansion:
    """Every file the arguments name (files, folders, globs), and every entry refused."""
    expander = _Expander(follow_links)
    for arg in args:
        path = Path(arg).expanduser()
        if os.path.lexists(path):
            expander.named(path)
        elif _MAGIC.search(arg):
            expander.glob(arg)
        else:
            raise ResizerError(f"{arg}: no such file or folder", "check the path")
    return expander.out
