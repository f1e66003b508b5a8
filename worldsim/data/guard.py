"""Keeping a recording whole: one writer per dataset, and a dataset that a kill at any moment cannot destroy.

Minari rewrites ``data/metadata.json`` in place, so a recorder killed while it writes can leave that file empty,
and its last episodes can be on disk without the metadata that names them. ``worldsim record`` therefore
- holds an exclusive lock (``flock``; the kernel drops it when a recorder dies, so a killed one never leaves it
  stuck) on ``<root>/.locks/<dataset id>.lock`` for as long as it writes: a second recorder of the same dataset
  stops at once with an error naming the first one's process;
- keeps a copy of the dataset's metadata, written atomically after every batch of episodes it commits
  (``commit``);
- checks the dataset before every recording, and every read that finds its metadata unreadable (``repair``;
  a reader does so only under the recorders' lock and only where the copy exists): unreadable metadata is rebuilt
  from that copy and from the episodes on disk; an episode is kept when its data and its metadata (with the
  recorder's ``policy``, written last) are whole, and a trailing episode that is not is removed, so that a resumed
  recording plays it again. Nothing that was committed is lost.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from pathlib import Path

BACKUP = ".worldsim-metadata.json"


def _lock_path(root: str | os.PathLike, dataset_id: str) -> Path:
    return Path(root) / ".locks" / (str(dataset_id).replace("/", "__") + ".lock")


@contextlib.contextmanager
def recording_lock(root: str | os.PathLike, dataset_id: str):
    """Hold the one-writer lock of ``dataset_id`` under ``root``, or raise RuntimeError naming who holds it."""
    path = _lock_path(root, dataset_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    f = open(path, "a+")
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise RuntimeError(f"dataset {dataset_id} under {root} is being recorded by {holder}: one recorder "
                               "per dataset (wait for it, or record into another dataset_id)") from None  # fmt: skip
        f.seek(0)
        f.truncate()
        f.write(f"worldsim record (pid {os.getpid()})")
        f.flush()
        yield path
    finally:
        f.close()  # closing drops the lock


def lock_of(path: str | os.PathLike) -> tuple[Path, str] | None:
    """(root, dataset id) of the dataset folder ``path`` whose recorders lock under ``root/.locks``, or None (a
    dataset that no `worldsim record` wrote)."""
    path = Path(path).resolve()
    for depth, root in enumerate(path.parents):
        if depth > 3:
            break
        dataset_id = path.relative_to(root).as_posix()
        if _lock_path(root, dataset_id).exists():
            return root, dataset_id
    return None


def repair_unless_recording(path: str | os.PathLike) -> list[str]:
    """``repair`` for a reader: under the recorders' lock, so that it never touches a dataset being recorded
    (RuntimeError naming the recorder then)."""
    backup = Path(path) / "data" / BACKUP
    if not backup.is_file():  # not a dataset `worldsim record` keeps: a reader never deletes or rewrites it
        raise ValueError(f"its metadata is unreadable and it has no copy ({backup}) to rebuild it from")
    found = lock_of(path)
    if found is None:
        return repair(path)
    with recording_lock(*found):
        return repair(path)


def _write_json_atomic(path: Path, obj: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def commit(data: Path) -> None:
    """After a batch of episodes is whole on disk: the atomic copy of the metadata that ``repair`` falls back to."""
    _write_json_atomic(data / BACKUP, json.loads((data / "metadata.json").read_text()))


def _episode_steps(data: Path, i: int) -> int | None:
    """Episode ``i``'s step count if its metadata (with the recorder's ``policy``) and its data are whole."""
    import pyarrow.dataset as pds

    try:
        meta = json.loads((data / str(i) / "metadata.json").read_text())
        steps = int(meta["total_steps"])
        if "policy" not in meta:
            return None
        rows = pds.dataset(str(data / str(i)), format="arrow", ignore_prefixes=["_", ".", "metadata.json"]).count_rows()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return steps if rows == steps + 1 else None


def repair(path: str | os.PathLike) -> list[str]:
    """Make the dataset at ``path`` (its folder, holding ``data/``) consistent after a crash; returns what it did
    (nothing for a healthy dataset). ValueError when the metadata is gone and no copy of it exists."""
    data = Path(path) / "data"
    if not data.is_dir():  # killed before the first episode reached the disk
        shutil.rmtree(Path(path), ignore_errors=True)
        return [f"removed {path}: it held no data yet"]
    meta_file = data / "metadata.json"
    try:
        meta = json.loads(meta_file.read_text())
        if not isinstance(meta, dict) or "total_episodes" not in meta:
            raise ValueError("no total_episodes")
    except (OSError, ValueError) as exc:
        if not (data / BACKUP).is_file() and not any(
            _episode_steps(data, int(p.name)) for p in data.glob("*") if p.is_dir() and p.name.isdigit()
        ):  # killed while it created the dataset: nothing was committed, nothing to keep
            shutil.rmtree(Path(path))
            return [f"removed {path}: killed while it was created, before any episode was whole"]
        if not (data / BACKUP).is_file():
            raise ValueError(f"the Minari dataset at {path} is corrupt ({meta_file}: {exc}) and has no copy of its "
                             "metadata to rebuild it from") from exc  # fmt: skip
        meta, done = json.loads((data / BACKUP).read_text()), [f"metadata rebuilt: {meta_file} was unreadable"]
    else:
        done = []
    if meta.get("data_format", "arrow") != "arrow":  # episodes are checked in arrow datasets only; never touched
        if done:
            _write_json_atomic(meta_file, meta)
        return done
    on_disk = sorted(int(p.name) for p in data.iterdir() if p.is_dir() and p.name.isdigit())
    last_ok = meta["total_episodes"] - 1
    healthy = on_disk == list(range(meta["total_episodes"])) and (last_ok < 0 or _episode_steps(data, last_ok))
    if healthy and not done:
        return []
    steps = []
    for i in on_disk:  # the whole episodes form a prefix 0..n-1; what follows the first broken one goes
        s = _episode_steps(data, i) if i == len(steps) else None
        if s is None:
            shutil.rmtree(data / str(i))
            done.append(f"episode {i} was incomplete: removed (a resumed recording plays it again)")
        else:
            steps.append(s)
    meta.update(total_episodes=len(steps), total_steps=int(sum(steps)))
    _write_json_atomic(meta_file, meta)
    commit(data)
    return done
