"""The command line with an accident planted at an exact moment, for the tests of long runs
(tests/test_long_runs.py). No tests here.

    python -m tests.accident ACCIDENT[,ACCIDENT...] -- train FILM --out RUN ...

runs `python cli.py train ...` in this process, as cli.py's main() does (SIGTERM/SIGHUP handlers included),
after planting each ACCIDENT, WHAT@WHERE:N:

    term@step:N     SIGTERM to this process while step N runs (hup: SIGHUP; int: SIGINT)
    term2@step:N    SIGTERM twice while step N runs (the second means "stop at once")
    kill@step:N     SIGKILL (kill -9) while step N runs: its weights have moved, nothing is logged or saved
    kill@checkpoint:N   SIGKILL in the middle of the N-th checkpoint write (half its bytes on disk)
    kill@film:N     SIGKILL after N frames of a film have been written (the final reconstruction.mp4);
                    term@film:N: SIGTERM there
    kill@store:N    SIGKILL at the N-th write of decoded frames into the frame store (the film being decoded)
    pause@step:N    at step N, create $ACCIDENT_FLAGS/paused and wait until $ACCIDENT_FLAGS/go exists
    slow@step:MS    every step takes MS milliseconds longer (so that a test can aim at a moment from outside)

The signals are real ones, sent with os.kill to this process: the handlers that run are the ones a user's
`kill PID` or closed terminal would run.
"""
import os
import signal
import sys
import time

NAMES = {"term": signal.SIGTERM, "hup": signal.SIGHUP, "int": signal.SIGINT, "kill": signal.SIGKILL}


class HalfWrite:
    """A file object that writes half of what it is given, flushes it, then calls `then()`, which does not
    return (it raises, or kills the process): a write cut off in the middle. Also tests/test_crash_safety.py's."""

    def __init__(self, f, then):
        self.f, self.then = f, then

    def write(self, data):
        self.f.write(data[:len(data) // 2])
        self.f.flush()
        self.then()

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()
        return False


def plant(what, where, n):
    import vaegan.train as train

    if where == "step":
        original = train.Run.step
        if what == "slow":
            def step(self, x):
                time.sleep(n / 1000)
                return original(self, x)
        elif what == "pause":
            def step(self, x):
                if self.state["step"] + 1 == n:
                    flags = os.environ["ACCIDENT_FLAGS"]
                    open(os.path.join(flags, "paused"), "w").close()
                    deadline = time.time() + 120
                    while not os.path.exists(os.path.join(flags, "go")) and time.time() < deadline:
                        time.sleep(0.01)
                return original(self, x)
        else:
            signum, times = NAMES[what.rstrip("2")], 2 if what.endswith("2") else 1

            def step(self, x):
                if self.state["step"] + 1 == n:
                    if signum == signal.SIGKILL:
                        result = original(self, x)       # the weights move; nothing reaches the disk
                        os.kill(os.getpid(), signum)
                        return result
                    for _ in range(times):
                        os.kill(os.getpid(), signum)
                return original(self, x)
        train.Run.step = step
    elif where == "checkpoint":
        from vaegan import checkpoint

        calls = {"n": 0}
        fdopen = os.fdopen

        def counted_fdopen(fd, mode="r", *args, **kw):
            f = fdopen(fd, mode, *args, **kw)
            calls["n"] += 1
            return HalfWrite(f, lambda: os.kill(os.getpid(), signal.SIGKILL)) if calls["n"] == n else f

        class OsOfTheCheckpoint:                   # os, as vaegan/checkpoint.py sees it, with fdopen counted
            fdopen = staticmethod(counted_fdopen)

            def __getattr__(self, name):
                return getattr(os, name)

        checkpoint.os = OsOfTheCheckpoint()        # vaegan.checkpoint.save writes through os.fdopen
    elif where == "film":
        from vaegan.media.film import FilmWriter

        original, signum = FilmWriter.write, NAMES[what]

        def write(self, frames):
            result = original(self, frames)
            if self.count >= n:
                os.kill(os.getpid(), signum)
            return result
        FilmWriter.write = write
    elif where == "store":
        import vaegan.media.framestore as framestore

        original_chunk, writes = framestore.write_chunk, {"n": 0}

        def write_chunk(file, chunk):
            writes["n"] += 1
            if writes["n"] == n:
                original_chunk(file, chunk[:len(chunk) // 2])
                file.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            return original_chunk(file, chunk)
        framestore.write_chunk = write_chunk
    else:
        raise SystemExit(f"unknown accident place {where!r}")


def main(argv):
    split = argv.index("--")
    for spec in argv[:split]:
        for accident in spec.split(","):
            what, rest = accident.split("@")
            where, n = rest.split(":")
            plant(what, where, int(n))
    sys.argv = ["cli.py", *argv[split + 1:]]
    import cli

    cli.main()


if __name__ == "__main__":
    main(sys.argv[1:])
