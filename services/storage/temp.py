"""Stale temporary files: what a killed process left behind is removed when a worker starts.

Only files older than STALE_AFTER_S go, so an upload or an analysis running right now in another
process keeps its files.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

STALE_AFTER_S = 15 * 60
# Earlier releases copied each blob video to <temp>/framewise-*.<ext> before reading it; a killed
# worker's copy stayed there for good.
SYSTEM_TEMP_PREFIX = "framewise-"


def sweep_files(paths: Iterable[Path], older_than_s: float, now: float | None = None) -> int:
    """Delete the regular files among `paths` not modified for `older_than_s`; returns bytes."""
    now = time.time() if now is None else now
    freed = 0
    for path in paths:
        try:
            info = path.lstat()
            if not path.is_file() or path.is_symlink() or now - info.st_mtime < older_than_s:
                continue
            path.unlink()
        except OSError:  # gone meanwhile, or not ours to remove
            continue
        freed += info.st_size
    return freed


def sweep_system_temp(older_than_s: float = STALE_AFTER_S, folder: Path | None = None) -> int:
    """Remove stale framewise-* files from the system temp folder; returns bytes freed."""
    root = Path(folder or tempfile.gettempdir())
    return sweep_files(root.glob(f"{SYSTEM_TEMP_PREFIX}*"), older_than_s)
