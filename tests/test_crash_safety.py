"""A crash or a full disk while the checkpoint or the film is being written leaves the previous one
intact and usable, and no half-written file behind (vaegan/checkpoint.py and vaegan/media/film.py write to a
temporary file beside the target and rename it into place only when it is complete).

The failures are simulated: ENOSPC (what a full disk raises) or a KeyboardInterrupt (Ctrl-C) at the
moment the data goes to disk: in the middle of the checkpoint's bytes, in the film's muxer after some
frames, at the final fsync."""
import errno
import os

import numpy as np
import pytest

from kernels import get_backend
from tests.accident import HalfWrite
from tests.films import decode_all, frame_index, pattern
from vaegan import checkpoint
from vaegan.media import film as film_module
from vaegan.config import ModelConfig
from vaegan.errors import UserError
from vaegan.media.film import FilmWriter
from vaegan.model import VAEGAN
from vaegan.optim import Adam

CFG = ModelConfig(name="crash", width=16, height=8, z_dim=3, enc_widths=(2, 3), dec_start=3, dec_widths=(2, 3),
                  disc_widths=(2, 3), disc_strides=(2, 2), sim_layers=(1,))
K = get_backend("numpy")


def disk_full():
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def leftovers(folder, keep):
    return sorted(set(os.listdir(folder)) - set(keep))


def model_and_optimizers(seed):
    model = VAEGAN(K, CFG, seed=seed)
    return model, {n: Adam(K, f) for n, f in model.flat.items()}


def raising(error):
    def fail():
        raise error
    return fail


@pytest.mark.parametrize("where", ["write", "fsync"])
@pytest.mark.parametrize("error", [disk_full(), KeyboardInterrupt()], ids=["ENOSPC", "ctrl-c"])
def test_a_failed_checkpoint_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch, where, error):
    path = str(tmp_path / checkpoint.FILENAME)
    old, old_opt = model_and_optimizers(seed=1)
    checkpoint.save(path, old, old_opt, {"step": 7})
    new, new_opt = model_and_optimizers(seed=2)
    assert not np.array_equal(new.flat["encoder"].data, old.flat["encoder"].data)
    if where == "write":
        fdopen = os.fdopen
        monkeypatch.setattr(checkpoint.os, "fdopen", lambda fd, mode: HalfWrite(fdopen(fd, mode), raising(error)))
    else:
        def fail(fd):
            raise error
        monkeypatch.setattr(checkpoint.os, "fsync", fail)
    with pytest.raises(type(error)):
        checkpoint.save(path, new, new_opt, {"step": 8})
    monkeypatch.undo()
    assert leftovers(tmp_path, [checkpoint.FILENAME]) == []        # the temporary file is gone
    meta, tensors = checkpoint.read(path)                          # the old one loads, whole
    assert meta["step"] == 7
    restored, restored_opt = model_and_optimizers(seed=3)
    checkpoint.load_into(path, meta, tensors, restored, restored_opt)
    for name in old.flat:
        np.testing.assert_array_equal(restored.flat[name].data, old.flat[name].data, err_msg=name)


def test_a_checkpoint_has_the_usual_permissions(tmp_path):
    """Written through a private mkstemp file, the checkpoint still gets open()'s mode (0666 less the
    umask), as checkpoint-good.safetensors (a copy) and every other file of the run folder do."""
    path = tmp_path / checkpoint.FILENAME
    model, optimizers = model_and_optimizers(seed=1)
    previous = os.umask(0o022)
    try:
        checkpoint.save(str(path), model, optimizers, {"step": 1})
    finally:
        os.umask(previous)
    assert os.stat(path).st_mode & 0o777 == 0o644


class FillingDisk:
    """An output container whose disk fills after two packets: mux raises `error` from then on."""

    def __init__(self, out, error, room=2):
        self.out, self.error, self.room = out, error, room

    def mux(self, packet):
        if self.room == 0:
            raise self.error
        self.room -= 1
        return self.out.mux(packet)

    def __getattr__(self, name):
        return getattr(self.out, name)


def write_film(path, first, n):
    with FilmWriter(path, 10, 64, 48) as film:
        film.write(np.stack([pattern(i) for i in range(first, first + n)]))


def test_a_complete_film_replaces_the_previous_one_with_the_usual_permissions(tmp_path):
    path = tmp_path / "reconstruction.mp4"
    write_film(path, 0, 4)
    write_film(path, 10, 3)
    assert [frame_index(p) for p in decode_all(path)] == [10, 11, 12]
    assert leftovers(tmp_path, [path.name]) == []
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~mask


@pytest.mark.parametrize("where", ["muxer", "fsync", "raise in the with block"])
@pytest.mark.parametrize("error", [disk_full(), KeyboardInterrupt()], ids=["ENOSPC", "ctrl-c"])
def test_a_failed_film_write_keeps_the_previous_film(tmp_path, monkeypatch, where, error):
    path = tmp_path / "reconstruction.mp4"
    write_film(path, 0, 6)                                  # the previous run's film: frames 0..5
    if where == "muxer":                                    # the disk fills after a few packets
        original = FilmWriter.write

        def write_then_fill(self, frames):
            if not isinstance(self._out, FillingDisk):
                self._out = FillingDisk(self._out, error)
            return original(self, frames)
        monkeypatch.setattr(FilmWriter, "write", write_then_fill)
    elif where == "fsync":
        def fail(fd):
            raise error
        monkeypatch.setattr(film_module.os, "fsync", fail)
    expected = (UserError if isinstance(error, OSError) and where != "raise in the with block" else type(error))
    with pytest.raises(expected):
        with FilmWriter(path, 10, 64, 48) as film:
            for i in range(20, 40):                          # enough frames for the encoder to emit packets
                film.write(pattern(i % 25))
            if where == "raise in the with block":
                raise error
    monkeypatch.undo()
    assert leftovers(tmp_path, [path.name]) == []            # no half-written film left behind
    assert [frame_index(p) for p in decode_all(path)] == list(range(6))
