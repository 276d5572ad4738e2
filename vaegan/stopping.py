"""How a run stops when it is asked to: Ctrl-C (SIGINT), SIGTERM (`kill PID`, a job scheduler, a
container or a machine shutting down), SIGHUP (the terminal or the ssh session closed) and SIGUSR1
(what mpirun forwards to every rank of a run of several processes).

    during training   the first signal sets a flag instead of tearing a step in half: the step finishes, a
                      checkpoint is written, and the run stops with Interrupted (exit 128 + the signal's
                      number: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP) and the line that resumes it.
                      A second signal, of any of the three, stops at once: the last checkpoint stays
                      (checkpoints are written atomically, vaegan/checkpoint.py, so one cut off mid-write
                      leaves the previous one whole). StopFlag does this, around the training loop.
    anywhere else     (decoding the film, writing the final film) SIGTERM and SIGHUP raise Interrupted at
                      once, as Ctrl-C raises KeyboardInterrupt, so what was half-written is removed on the way
                      out (the frame store, the film writer) instead of the process vanishing mid-write.
                      stop_on_termination() installs this for a whole process (cli.py's main).

A signal the process was told to ignore stays ignored: under `nohup` (SIGHUP ignored) closing the terminal
does not stop the run, nor does Ctrl-C stop one started in the background by a non-interactive shell.

What no handler can catch (kill -9, a crash, the power going) is met by the checkpoints alone: they are
written every --checkpoint-minutes as well as each epoch (vaegan/train.py), so such an end loses at most
that much work, and the run resumes from the last one with --resume.
"""
import signal

from tqdm import tqdm

# SIGUSR1: mpirun answers Ctrl-C by killing its ranks at once, but forwards SIGUSR1 to every rank, so
# `kill -USR1 <mpirun's pid>` is the Ctrl-C of a run of several ranks (vaegan/distributed.py)
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1)
NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP", signal.SIGUSR1: "SIGUSR1"}


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal. exit_code: the shell's convention, 128 + the signal's number."""

    def __init__(self, message, signum=signal.SIGINT):
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + int(signum)


def _raise_interrupted(signum, frame):
    raise Interrupted(f"stopped by {NAMES.get(signum, signum)}", signum)


def stop_on_termination():
    """Make SIGTERM and SIGHUP stop this process as Ctrl-C does: by an exception, which the `finally`
    blocks on its way out see (a partial frame store or film is removed), not by vanishing."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is not signal.SIG_IGN:       # nohup's SIGHUP stays ignored
            signal.signal(signum, _raise_interrupted)


class StopFlag:
    """Around the training loop: the first SIGINT/SIGTERM/SIGHUP sets `requested` (and `signum`), the
    loop finishes its step, saves and raises; a second signal raises Interrupted at once."""

    def __init__(self):
        self.requested = False
        self.signum = None
        self._old = {}

    def __enter__(self):
        for signum in SIGNALS:
            old = signal.getsignal(signum)
            if old is not signal.SIG_IGN:                        # nohup's SIGHUP stays ignored
                self._old[signum] = old
                signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise Interrupted(f"{NAMES.get(signum, signum)} a second time: stopped at once; the last "
                              f"checkpoint is kept", self.signum)
        self.requested, self.signum = True, signum
        try:
            tqdm.write(f"{NAMES.get(signum, signum)}: finishing this step and saving a checkpoint (Ctrl-C or "
                       f"the signal again stops at once)")
        except OSError:      # SIGHUP: the terminal may be gone; the checkpoint matters, not the message
            pass

    def agree(self, anyone):
        """Among ranks: `anyone` is whether any rank was asked to stop; then every rank stops after this
        step (one not signalled itself says so as if stopped by SIGUSR1, mpirun's forwarded stop)."""
        if anyone and not self.requested:
            self.requested, self.signum = True, signal.SIGUSR1

    def interrupted(self, step, out):
        """The exception the loop raises once the checkpoint of `step` is saved."""
        by = "" if self.signum == signal.SIGINT else f" ({NAMES.get(self.signum, self.signum)})"
        return Interrupted(f"interrupted after step {step}{by}; checkpoint saved. "
                           f"Resume with: python cli.py train --resume {out}", self.signum)

    def __exit__(self, *exc):
        for signum, old in self._old.items():
            signal.signal(signum, old if old is not None else signal.SIG_DFL)
        return False
