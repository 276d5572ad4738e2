"""One process at a time in a run folder: an OS lock on RUN/run.lock.

`train` (a new run or --resume) takes the lock before it writes anything in the folder and holds it while
the process lives. The kernel releases it when the process ends, however it ends (kill -9 included), so a
lock never outlives its owner and there is nothing stale to clear by hand. A second `train --out RUN` or
`train --resume RUN` while the first runs is refused in one line that names the owner's process id (the
lock file holds it). Two runs writing one folder would interleave their metrics and overwrite each other's
checkpoints; refusing the second keeps the first's files whole.

`fit-density` writes into the run folder (the density, its scores, its new frames) and takes the lock too,
so it is refused while the run trains: the run's end would fit its own density over it.

Readers take no lock: `reconstruct`, `sample`, `report`, `morph` on a run in progress read its last
checkpoint, which is only ever replaced whole (written to a temporary file, renamed over the old one:
vaegan/checkpoint.py), so a reader sees the previous checkpoint or the next, never half of one.

The lock is flock(2) on an open file (not fcntl's record locks, which a process loses when it closes any
descriptor of the file, and which a process does not conflict with itself on). The file is left in place
when the lock is released: deleting it would let a third process lock a new file while a second still
waits on the old one.

remove_leftovers(): the temporary files a process killed mid-write leaves (a checkpoint, the good
checkpoint's copy, a film, the report, the frame store's sidecar). Only the lock's holder may remove them:
while another process owns the folder they may be its writes in progress.
"""
import errno
import fcntl
import os

from .errors import UserError

FILENAME = "run.lock"


class RunLock:
    """The lock of one run folder. acquire() or UserError; release() (or the process's end) gives it up."""

    def __init__(self, run_dir):
        self.run_dir = os.fspath(run_dir)
        self.path = os.path.join(self.run_dir, FILENAME)
        self.fd = None

    def acquire(self):
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise UserError(f"{self.run_dir}: cannot open its lock file {FILENAME} ({e.strerror or e})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            owner = _read_pid(fd)
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                who = f"process {owner}" if owner else "another process"
                raise UserError(f"{self.run_dir} is in use by {who} (a training run holds {FILENAME}); "
                                f"wait for it to end or stop it" + (f" (kill {owner})" if owner else "")
                                + ", or choose another folder") from None
            raise UserError(f"{self.run_dir}: cannot lock {FILENAME} ({e.strerror or e}); this filesystem "
                            f"may not support locks") from None
        os.ftruncate(fd, 0)                       # the owner's pid, for the message above
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def release(self):
        if self.fd is not None:
            fd, self.fd = self.fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __del__(self):            # a lock whose holder is forgotten goes with it, not with the process
        self.release()

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False


def _read_pid(fd):
    try:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def is_leftover(name):
    """A temporary file of ours, by its name: checkpoint.save's .checkpoint-*.tmp, the good checkpoint's
    and the report's NAME.tmp, the film writer's .NAME.*.partial."""
    return name.endswith(".tmp") or (name.startswith(".") and name.endswith(".partial"))


def remove_leftovers(run_dir, subfolders=("frames",)):
    """Remove the temporary files an earlier process left in run_dir (and its frame store) when it was
    killed mid-write. Call only while holding the lock. Returns the paths removed."""
    removed = []
    for folder in (run_dir, *(os.path.join(run_dir, s) for s in subfolders)):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            if is_leftover(name) and os.path.isfile(path):
                try:
                    os.remove(path)
                    removed.append(path)
                except FileNotFoundError:
                    pass
    return removed
