"""The one check of an output path, made before any work whose result would have nowhere to go.

    check_output(path)                                  a file to write: its folder exists, is writable
    check_output(path, folder="run folder")             a folder to write in: it exists, is writable
    check_output(path, folder="run folder", create=True)          ... created (with its parents) if missing
    check_output(path, folder="store", create=True, parents=False) ... created if only it is missing

`folder` names the folder in the messages ("run folder" -> "RUN: no such run folder"). Every failure
is a UserError whose message starts with the path as given. Returns the absolute path.

Callers: cli.py (reconstruct, sample, morph: the -o file), media/film.py (FilmWriter), media/images.py
(PNG grids), media/framestore.py (the store's folder), train.py (the run folder), report.py (the run
folder it writes report.html in).

usual_permissions(path): a file written atomically (to a tempfile.mkstemp file, then renamed) gets the
mode open() would have given it, not mkstemp's private 0600 (the film writer, checkpoints).
"""
import os

from vaegan.errors import UserError


def check_output(path, folder=None, create=False, parents=True):
    """Raise UserError unless `path` can be written: a file (folder=None) or a folder named `folder`."""
    shown = os.fspath(path)
    path = os.path.abspath(shown)
    if folder is None:                       # a file: it goes into an existing, writable folder
        where = os.path.dirname(path)
        if not os.path.isdir(where):
            raise UserError(f"{shown}: the folder {where} does not exist")
        if os.path.isdir(path):
            raise UserError(f"{shown}: is a folder")
        if not os.access(where, os.W_OK):
            raise UserError(f"{shown}: the folder {where} is not writable")
        return path
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"{shown}: exists and is not a folder")
    if not os.path.isdir(path):
        if not create:
            raise UserError(f"{shown}: no such {folder}")
        parent = os.path.dirname(path)
        if not parents and not os.path.isdir(parent):
            raise UserError(f"{shown}: cannot create the {folder}, the folder {parent} does not exist")
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as e:
            raise UserError(f"{shown}: cannot create the {folder} ({e.strerror or e})") from None
    if not os.access(path, os.W_OK):
        raise UserError(f"{shown}: the {folder} is not writable")
    return path


def usual_permissions(path):
    """Give `path` the mode a plain open() would have: 0666 less the process's umask."""
    mask = os.umask(0)             # (reading the umask means setting it: put it straight back)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)
