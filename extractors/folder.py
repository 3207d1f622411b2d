"""Delivery folders (a file drop, an outbox): only regular files are listed as deliveries and opened.

A department controls what lands in its folder. A symbolic link could point at
any file the pipeline may read (a key, a secrets file), a FIFO blocks the first
read forever, a device never ends: all of them are refused by name and never
opened. Files are opened with O_NOFOLLOW and checked again on the descriptor,
so an entry swapped for a link or a FIFO after the listing is refused as well.
"""

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO


@dataclass(frozen=True)
class Skipped:
    """A folder entry that is not read: its name as listed and why (no content, since none was read)."""

    name: str
    why: str


class RefusedFile(Exception):
    """A delivery that turned out not to be a regular file (or vanished) when it was opened."""

    def __init__(self, path: Path, why: str):
        super().__init__(f"{path.name} {why}")
        self.name, self.why = path.name, why


@dataclass
class Listing:
    files: set[str] = field(default_factory=set)  # regular files
    directories: set[str] = field(default_factory=set)
    refused: list[Skipped] = field(default_factory=list)  # links, FIFOs, sockets, devices


def describe_mode(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def list_folder(folder: Path) -> Listing:
    """The folder's entries by type, judged on the entries themselves (links are not followed)."""
    listing = Listing()
    with os.scandir(folder) as entries:
        for entry in entries:
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except FileNotFoundError:  # removed since it was listed
                continue
            if stat.S_ISREG(mode):
                listing.files.add(entry.name)
            elif stat.S_ISDIR(mode):
                listing.directories.add(entry.name)
            else:
                listing.refused.append(Skipped(entry.name, f"is {describe_mode(mode)}, not a regular file; never opened"))
    listing.refused.sort(key=lambda s: s.name)
    return listing


def open_regular(path: Path) -> BinaryIO:
    """Open a delivered file for reading, or raise RefusedFile when it is not a regular file (any more).

    O_NONBLOCK keeps the open of a FIFO swapped in after the listing from waiting for a writer;
    it changes nothing for a regular file.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        why = {errno.ELOOP: "is a symbolic link, not a regular file; never opened",
               errno.ENXIO: "is a socket, not a regular file; never opened",
               errno.ENOENT: "disappeared before it could be read",
               errno.EACCES: "cannot be read (permission denied)",
               errno.EPERM: "cannot be read (operation not permitted)"}.get(exc.errno)
        if why is None:
            raise
        raise RefusedFile(path, why) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise RefusedFile(path, f"is {describe_mode(mode)}, not a regular file; never read")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
