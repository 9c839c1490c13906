"""One build per output folder at a time: the lock that owns `<out>.work/` and the assembly's leftovers.

    with claim(out) as work:      # waits while another process builds the same recipe (same `out`)
        ...                       # sample into work/, assemble into out (builders/build.py)

Beside `out` (`$TEMPDRAFT_HOME/builds/<name>-<fingerprint12>` or `output.dir`):

    <out>.work/           shards (builders/sample.py), kept until the build is done, resumed after a kill
    .<out>.tmp-<pid>/     an assembly in progress (builders/assemble.py), renamed to <out> when complete
    .<out>.lock           held (flock, via `filelock`) for the whole build; an empty file that stays

The kernel drops a flock when its holder dies (kill -9 included), so a held lock always means a live build.
Whoever takes the lock owns everything above: an assembly folder it finds was left by a dead process and
is removed here; the work folder is resumed.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from builders.assemble import assembly_leftovers


def work_dir(out: Path) -> Path:
    return out.with_name(out.name + ".work")


@contextmanager
def claim(out: Path) -> Iterator[Path]:
    """Hold the build lock of `out` (waiting while a live process holds it), remove dead assemblies, and
    yield the work folder."""
    out.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(out.with_name(f".{out.name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(
            f"[build] another process is building this recipe ({lock.lock_file} is held); waiting for it "
            "to finish",
            file=sys.stderr,
            flush=True,
        )
        lock.acquire()
    try:
        for tmp in assembly_leftovers(out):
            print(f"[build] removing {tmp.name}, an assembly a killed run left", file=sys.stderr)
            shutil.rmtree(tmp, ignore_errors=True)
        yield work_dir(out)
    finally:
        lock.release()
