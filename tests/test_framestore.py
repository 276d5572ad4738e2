"""The frame store: build, reuse, rebuild, half-written stores, and the readers the trainer uses."""
import json
import os

import numpy as np
import pytest

from tests.films import decode_all, frame_index, write_film
import vaegan.media.framestore as framestore
from vaegan.errors import UserError
from vaegan.media.framestore import FrameStore, to_float_batch, to_uint8_frames


@pytest.fixture
def film(tmp_path):
    return write_film(tmp_path / "film.mp4", n=24, fps=12)


def build(film, store_dir, **kw):
    kw.setdefault("size", (32, 24))
    return FrameStore.open_or_build(film, store_dir, progress=False, **kw)


def test_store_holds_the_decoded_frames_and_a_sidecar(film, tmp_path):
    store = build(film, tmp_path / "store", size=(64, 48), fit="stretch")
    assert (len(store), store.width, store.height, store.fps) == (24, 64, 48, 12.0)
    assert store.frames.shape == (24, 48, 64, 3) and store.frames.dtype == np.uint8
    assert isinstance(store.frames, np.memmap)
    assert np.array_equal(np.asarray(store.frames), decode_all(film))     # same size: the decoder's pixels
    assert store.times == pytest.approx(np.arange(24) / 12)
    meta = json.loads((tmp_path / "store" / "meta.json").read_text())
    assert meta["complete"] and meta["count"] == 24 and meta["source"]["path"] == str(film)
    assert meta["time_base"] and meta["settings"]["fit"] == "stretch" and meta["format_version"] == 1
    assert (tmp_path / "store" / "frames.u8").stat().st_size == 24 * 48 * 64 * 3


def test_every_divides_the_frame_rate(film, tmp_path):
    store = build(film, tmp_path / "store", every=4)
    assert len(store) == 6 and store.fps == 3.0
    assert [frame_index(f) for f in store.frames] == [0, 4, 8, 12, 16, 20]


def test_same_source_and_settings_reuse_the_store(film, tmp_path, monkeypatch):
    first = build(film, tmp_path / "store")
    assert not first.reused

    def no_decoding(*args, **kw):
        raise AssertionError("decoded again")
    monkeypatch.setattr(framestore, "iter_frames", no_decoding)
    again = build(film, tmp_path / "store")
    assert again.reused and len(again) == 24


def test_a_changed_setting_or_source_rebuilds(film, tmp_path):
    store_dir = tmp_path / "store"
    build(film, store_dir)
    assert build(film, store_dir, size=(16, 12)).width == 16           # another size
    assert not build(film, store_dir, size=(16, 12), fit="pad").reused  # another fit
    write_film(film, n=10, fps=12)                                       # the film itself replaced
    store = build(film, store_dir, size=(16, 12), fit="pad")
    assert not store.reused and len(store) == 10
    st = os.stat(film)
    os.utime(film, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))        # touched: same bytes, new mtime
    assert not build(film, store_dir, size=(16, 12), fit="pad").reused


def test_a_half_written_store_is_rebuilt_never_used(film, tmp_path):
    store_dir = tmp_path / "store"
    build(film, store_dir)
    meta_path = store_dir / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["complete"] = False                       # what a crash in the middle of a build leaves
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(UserError, match="half-written"):
        FrameStore.open(store_dir)
    store = build(film, store_dir)
    assert not store.reused and store.meta["complete"] and len(store) == 24


def test_a_frames_file_shorter_than_the_sidecar_says_is_rebuilt(film, tmp_path):
    store_dir = tmp_path / "store"
    build(film, store_dir)
    frames_file = store_dir / "frames.u8"
    frames_file.write_bytes(frames_file.read_bytes()[:1000])
    with pytest.raises(UserError, match="does not hold"):
        FrameStore.open(store_dir)
    assert not build(film, store_dir).reused


def test_an_interrupted_build_leaves_nothing_usable(film, tmp_path, monkeypatch):
    store_dir = tmp_path / "store"
    build(film, store_dir)
    monkeypatch.setattr(framestore, "CHUNK_BYTES", 32 * 24 * 3 * 5)   # a write every 5 frames
    writes = []

    def write_then_interrupt(file, chunk):
        writes.append(len(chunk))
        if len(writes) == 2:
            raise KeyboardInterrupt
        file.write(chunk.tobytes())
    monkeypatch.setattr(framestore, "write_chunk", write_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        build(film, store_dir, size=(32, 24), every=2)          # new settings: a rebuild, cut short
    assert writes == [5, 5]
    with pytest.raises(UserError):
        FrameStore.open(store_dir)


def test_epoch_order_is_a_pure_function_of_seed_and_epoch(film, tmp_path):
    store = build(film, tmp_path / "store")
    other = FrameStore.open(tmp_path / "store")                 # another instance, same answer
    order = store.epoch_order(seed=7, epoch=3)
    assert np.array_equal(order, other.epoch_order(7, 3))
    assert sorted(order) == list(range(24))
    assert not np.array_equal(order, store.epoch_order(7, 4))
    assert not np.array_equal(order, store.epoch_order(8, 3))


def test_shuffled_batches_cover_every_frame_once_per_epoch(film, tmp_path):
    store = build(film, tmp_path / "store")
    stored = to_float_batch(np.asarray(store.frames))
    for epoch in range(3):
        seen = []
        for batch in store.shuffled_batches(6, seed=1, epoch=epoch):
            assert batch.shape == (6, 3, 24, 32) and batch.dtype == np.float32
            for x in batch:       # find each frame by its pixels: every stored frame is different
                matches = [i for i in range(len(store)) if np.array_equal(stored[i], x)]
                assert len(matches) == 1
                seen += matches
        assert sorted(seen) == list(range(24))
        assert seen == list(store.epoch_order(1, epoch))


def test_shuffled_batches_drop_the_remainder_and_resume_mid_epoch(film, tmp_path):
    store = build(film, tmp_path / "store")
    full = list(store.shuffled_batches(5, seed=2, epoch=0))
    assert len(full) == 4 == store.batches_per_epoch(5)               # 24 frames: 4 of 5, 4 dropped
    order = store.epoch_order(2, 0)
    assert np.array_equal(np.concatenate(full), store.batch(order[:20]))
    resumed = list(store.shuffled_batches(5, seed=2, epoch=0, start_batch=2))
    assert len(resumed) == 2 and all(np.array_equal(a, b) for a, b in zip(resumed, full[2:]))
    with pytest.raises(UserError, match="fewer than a batch"):
        next(store.shuffled_batches(25, seed=0, epoch=0))


def test_in_order_walks_every_frame(film, tmp_path):
    store = build(film, tmp_path / "store")
    got = list(store.in_order(10))
    assert [first for first, _ in got] == [0, 10, 20] and [len(b) for _, b in got] == [10, 10, 4]
    assert np.array_equal(to_uint8_frames(np.concatenate([b for _, b in got])), np.asarray(store.frames))


def test_batch_keeps_the_order_asked_for(film, tmp_path):
    store = build(film, tmp_path / "store")
    wanted = [17, 3, 3, 0, 22]
    assert np.array_equal(to_uint8_frames(store.batch(wanted)), np.asarray(store.frames)[wanted])


def test_uint8_and_float_batches_convert_exactly():
    every_value = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1).repeat(3, axis=3)
    x = to_float_batch(every_value)
    assert x.shape == (1, 3, 16, 16) and x.dtype == np.float32
    assert x.min() == -1.0 and x.max() == 1.0
    assert np.array_equal(to_uint8_frames(x), every_value)
    assert np.array_equal(to_uint8_frames(np.array([-3.0, 2.0, 0.0]).reshape(1, 3, 1, 1)).ravel(), [0, 255, 128])
