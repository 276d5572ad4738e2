"""vaegan/media/ knows nothing of the model: its modules import, of this project, only vaegan.errors
and each other (never nn, model, step, the kernels, cli.py or bench/), read from the source."""
import glob
import os

from tests.test_layers import ROOT, project_imports


def test_the_media_room_imports_nothing_of_the_model():
    files = sorted(glob.glob(os.path.join(ROOT, "vaegan", "media", "*.py")))
    assert len(files) >= 7
    wrong = {os.path.basename(f): sorted(m for m in project_imports(f)
                                         if m != "vaegan.errors" and not m.startswith("vaegan.media"))
             for f in files}
    assert not {f: m for f, m in wrong.items() if m}
