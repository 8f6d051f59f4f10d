"""What an index folder may hold before a backend opens it: its own files and folders only.

A folder may come from someone else. A link inside it (symbolic or hard) would let
a read or a write reach a file outside it, and a special file (a FIFO, a device, a
socket) would hang or feed a reader; so before the embedded index or a Qdrant
folder is opened, every entry at any depth must be a plain file (with no other
name on disk) or a plain folder, else the open is refused in one line naming it.
The index folder itself may be a link: the user named it.

>>> import tempfile, os
>>> folder = tempfile.mkdtemp()
>>> os.symlink("/etc/passwd", os.path.join(folder, "store.sqlite"))
>>> check_folder(folder)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
longcolbert.errors.UnsafeIndexError: .../store.sqlite is a link; an index folder holds only its own files, so longcolbert will not open it: replace the link by a copy of the file, or open only folders you made or trust
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import UnsafeIndexError


def check_folder(folder: str | Path) -> None:
    """Refuse ``folder`` (UnsafeIndexError) if anything in it is a link or a special file."""
    pending = [Path(folder)]
    while pending:
        current = pending.pop()
        try:
            entries = list(os.scandir(current))
        except FileNotFoundError:
            continue  # a folder not made yet (a new index)
        for entry in entries:
            found = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(found.st_mode):
                _refuse(entry.path, "a link")
            elif stat.S_ISDIR(found.st_mode):
                pending.append(Path(entry.path))
            elif not stat.S_ISREG(found.st_mode):
                _refuse(entry.path, "a special file (not a plain file or folder)")
            elif found.st_nlink > 1:
                _refuse(entry.path, "a hard link (the same file has another name on disk)")


def _refuse(path: str, what: str) -> None:
    raise UnsafeIndexError(
        f"{path} is {what}; an index folder holds only its own files, so longcolbert will "
        "not open it: replace the link by a copy of the file, or open only folders you "
        "made or trust"
    )
