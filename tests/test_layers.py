"""The code's three floors, read from the source: cli.py and bench/ over vaegan/ over kernels/, no import
running upward (kernels/ imports nothing of vaegan/, bench/ or cli.py; vaegan/ nothing of bench/ or
cli.py), and no circle among vaegan's modules (a module that imports one that imports it back, directly
or around a circle, at module level or inside a function): each module can be read after the ones it
uses."""
import ast
import glob
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT = ("vaegan", "kernels", "cli", "bench")


def module_name(path):
    rel = os.path.relpath(path, ROOT)[:-len(".py")].replace(os.sep, ".")
    return rel[:-len(".__init__")] if rel.endswith(".__init__") else rel


def project_imports(path):
    """The project modules a file imports (any depth, module level or inside functions); `from . import x`
    counts as importing module x where x is one."""
    package = module_name(path)
    if not path.endswith("__init__.py"):
        package = package.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if os.path.exists(os.path.join(ROOT, *sub.split(".")) + ".py") else base)
    return {m for m in found if m.split(".")[0] in PROJECT}


def sources(folder):
    return sorted(glob.glob(os.path.join(ROOT, folder, "**", "*.py"), recursive=True))


def test_no_import_runs_upward():
    upward = {}
    for folder, below in (("kernels", ("kernels",)), ("vaegan", ("vaegan", "kernels"))):
        for path in sources(folder):
            wrong = sorted(m for m in project_imports(path) if m.split(".")[0] not in below)
            if wrong:
                upward[os.path.relpath(path, ROOT)] = wrong
    assert not upward


def test_no_vaegan_module_imports_one_that_imports_it_back():
    graph = {module_name(p): {m for m in project_imports(p) if m.startswith("vaegan.")} for p in sources("vaegan")}
    circles = []

    def visit(module, trail):
        for nxt in sorted(graph.get(module, ())):
            if nxt in trail:
                circles.append(" -> ".join(trail[trail.index(nxt):] + [nxt]))
            elif nxt not in done:
                visit(nxt, trail + [nxt])
        done.add(module)

    done = set()
    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    assert not circles, "\n".join(sorted(set(circles)))
