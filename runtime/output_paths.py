"""Is an output path writable, with a suffix that can be written: checked before a run (the
CLI's --out and --plot) and again at saving, so that no run's results are lost to a typo."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Sequence

from augury.errors import AuguryError


def check_writable(path: str | Path, suffixes: Sequence[str] = (".nc", ".npz"), what: str = "a posterior") -> None:
    """Refuse, before any sampling, a path `what` cannot be saved to: a suffix not in `suffixes`,
    a missing or read-only folder (tried by creating a file there: permissions, read-only or
    virtual file systems), or a folder in the way."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        kinds = ", ".join(f"`{s}`" for s in suffixes)
        raise AuguryError(f"cannot save {what} to `{path}`: unknown file type `{path.suffix}`",
                          notes=[f"use a path ending in {kinds}" if len(suffixes) > 2 else
                                 "use a `.nc` (NetCDF) or `.npz` path"])
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise AuguryError(f"cannot save {what} to `{path}`: the folder `{folder}` does not exist"
                          + (" (it is a file)" if folder.exists() else ""))
    if path.is_dir():
        raise AuguryError(f"cannot save {what} to `{path}`: it is a folder")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise AuguryError(f"cannot save {what} to `{path}`: permission denied")
    try:  # the saves write a temporary file there and rename it: try that much now
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=str(folder))
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise AuguryError(f"cannot save {what} to `{path}`: {e.strerror or e} (in the folder `{folder}`)") from None
