"""Atomic file writes: the one helper every part of JourneyLab writes files with.

    atomic_write(path, lambda tmp: df.to_parquet(tmp))     # any writer, given a path
    atomic_write_text(path, json.dumps(obj))               # text
    atomic_write_files(folder, {"a.json": w1, "b.html": w2})  # several files, all or none
    atomic_write_folder(folder, lambda staged: shutil.copytree(src, staged, dirs_exist_ok=True))

A crash leaves the old file (or none), never half a file, and no temporary behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

Writer = Callable[[str], Any]


def atomic_write(path: str | Path, write: Writer) -> Path:
    """Call `write(tmp)` on a temporary file beside `path`, then rename it onto `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = _temporary(path)
    try:
        write(tmp)
        _share(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_files(folder: str | Path, writers: dict[str, Writer]) -> dict[str, Path]:
    """Write several files of `folder` together: all of them, or none.

    Each is written to a hidden temporary beside its target first; only when every one
    is complete are they renamed into place. A failure leaves none of them (and no
    folder that this call created). Returns {name: path}.
    """
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[str, Path]] = []
    try:
        for name, write in writers.items():
            target = folder / name
            staged.append((_temporary(target), target))
            write(staged[-1][0])
        for tmp, target in staged:
            _share(tmp)
            os.replace(tmp, target)
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
        if created and not any(folder.iterdir()):
            folder.rmdir()
    return {target.name: target for _, target in staged}


def atomic_write_folder(folder: str | Path, write: Callable[[Path], Any]) -> Path:
    """Build a folder with `write(staged)` beside `folder`, then swap it into place.

    A failure leaves the old folder (or none) and no staged copy. The swap is two
    renames (old aside, new in), so a reader never sees a half-built folder."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-new-"))
    old = staged.with_name(staged.name.replace("-new-", "-old-"))
    try:
        write(staged)
        os.chmod(staged, 0o777 & ~_umask())  # mkdtemp makes 0700 folders
        if folder.exists():
            folder.rename(old)
        staged.rename(folder)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
        _remove(old)
    return folder


def _remove(path: Path) -> None:
    """Remove a folder or a file (what `atomic_write_folder` replaced may be either)."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _temporary(path: Path) -> str:
    # The suffix keeps the target's, so writers that choose a format by name still work;
    # the writer's pid in the name lets a later write remove what a killed one left.
    prefix = f".{path.stem}.{os.getpid()}-"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=path.suffix)
    os.close(fd)
    return tmp


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Remove the temporaries of `path` (`.STEM.<pid>-*SUFFIX`, and the older
    `.NAME.tmp` / `.NAME.<pid>.tmp`) whose writer process is gone. Only our own naming
    is touched; a live writer's temporary stays."""
    path = Path(path)
    removed = []
    if not path.parent.is_dir():
        return removed
    for tmp in path.parent.iterdir():
        pid = _writer_pid(tmp.name, path)
        if pid is not None and (pid == 0 or not _alive(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _writer_pid(name: str, path: Path) -> int | None:
    """The writer pid encoded in a temporary's name (0: an old name without one)."""
    if name == f".{path.name}.tmp":
        return 0
    for head, tail in ((f".{path.stem}.", path.suffix), (f".{path.name}.", ".tmp")):
        if name.startswith(head) and name.endswith(tail):
            pid = name[len(head) : len(name) - len(tail)].split("-")[0]
            if pid.isdigit():
                return int(pid)
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _share(tmp: str) -> None:
    """mkstemp makes 0600 files; give the file the mode a plain open() would."""
    os.chmod(tmp, 0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
