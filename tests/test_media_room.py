"""vaegan/media/ knows nothing of the model: its modules import, of this project, only vaegan.errors
and each other (never nn, model, step, the kernels, cli.py or bench/), read from the source."""
import ast
import glob
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def project_imports(path):
    """The project modules a file imports (any depth, module level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:   # relative: resolve against vaegan.media
                base = ".".join(["vaegan", "media"][:3 - node.level] + ([base] if base else []))
            found.update([base] if base else [])
    return {m for m in found if m.split(".")[0] in ("vaegan", "kernels", "cli", "bench")}


def test_the_media_room_imports_nothing_of_the_model():
    files = sorted(glob.glob(os.path.join(ROOT, "vaegan", "media", "*.py")))
    assert len(files) >= 7
    wrong = {os.path.basename(f): sorted(m for m in project_imports(f)
                                         if m != "vaegan.errors" and not m.startswith("vaegan.media"))
             for f in files}
    assert not {f: m for f, m in wrong.items() if m}
