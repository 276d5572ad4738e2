"""docs/ stays true: every derivation page's check runs and agrees, every link of every page leads
somewhere that exists, and every default a page (or the README, or vaegan/step.py's header) states is
the recipe's (STATED_DEFAULTS).

The link convention (docs/README.md, "How these pages link to the code"):
    [text](../vaegan/step.py)                      a relative link: the file (or folder) must exist
    [`forward_and_gradients`](../vaegan/step.py)   a name in backticks as the text of a link to a source
                                                   file: that file must define the name (a function,
                                                   class, method as `Class.method`, or module-level
                                                   constant in Python; a kernel, device function,
                                                   struct, constexpr or #define in CUDA)
    [text](journey.md#10-the-backward-passes)      an anchor into a page: a heading of that page
No anchors into source files: line numbers go stale as the code moves, names do not.
"""
import ast
import functools
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
DERIVATIONS = os.path.join(DOCS, "derivations")
HELPER = "fd.py"          # docs/derivations/fd.py: shared by the checks, not a check itself

LINK = re.compile(r"\[([^\]\n]*)\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
LINK_CODE = re.compile(r"\[`([^`\n]+)`\]\(")                 # a name in backticks as a link's text
CODE_SPAN = re.compile(r"`[^`\n]*`")
NAME = re.compile(r"^`([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?)(?:\(\))?`$")
SOURCE_EXTS = (".py", ".cu", ".cuh")


def pages(root=DOCS):
    out = []
    for folder, _, files in os.walk(root):
        out += [os.path.join(folder, f) for f in files if f.endswith(".md")]
    return sorted(out)


def check_scripts():
    return sorted(os.path.join(DERIVATIONS, f) for f in os.listdir(DERIVATIONS)
                  if f.endswith(".py") and f != HELPER)


def links(text):
    """(text, target) of every markdown link outside code blocks and code spans."""
    text = LINK_CODE.sub(lambda m: "[\x01" + m.group(1) + "\x01](", FENCE.sub("", text))
    return LINK.findall(CODE_SPAN.sub("", text).replace("\x01", "`"))


@functools.lru_cache(maxsize=None)
def python_names(path):
    """Top-level functions, classes and assigned names of a Python file, and Class.method."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            if isinstance(node, ast.ClassDef):
                names |= {f"{node.name}.{item.name}" for item in node.body
                          if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))}
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def cuda_defines(path, name):
    text = open(path, encoding="utf-8").read()
    n = re.escape(name)
    patterns = (rf"\b{n}\s*\([^;{{}}]*\)\s*(?:const\s*)?\{{",     # a function or kernel with its body
                rf"\b(?:struct|class)\s+{n}\b", rf"^\s*#define\s+{n}\b", rf"\bconstexpr\b[^;=]*\b{n}\s*=")
    return any(re.search(p, text, re.M) for p in patterns)


def heading_anchors(path):
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    text = FENCE.sub("", open(path, encoding="utf-8").read())
    titles = re.findall(r"^#+\s+(.*?)\s*$", text, re.M)
    return {re.sub(r"[^\w\- ]", "", t.lower()).replace(" ", "-") for t in titles}


def link_problems(page):
    """What is wrong with the links of one page (empty when nothing is)."""
    problems = []
    here = os.path.dirname(page)
    for label, target in links(open(page, encoding="utf-8").read()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue                                          # http(s), mailto: not ours to check
        path, _, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(here, path)) if path else page
        if not os.path.exists(resolved):
            problems.append(f"{target}: no such file")
            continue
        if anchor and resolved.endswith(".md") and anchor not in heading_anchors(resolved):
            problems.append(f"{target}: no heading #{anchor} in {os.path.basename(resolved)}")
        elif anchor and not resolved.endswith(".md"):
            problems.append(f"{target}: an anchor into a source file (name the function instead)")
        name = NAME.match(label.strip())
        if name and resolved.endswith(SOURCE_EXTS) and name.group(1) != os.path.basename(resolved):
            ident = name.group(1)
            found = (ident in python_names(resolved) if resolved.endswith(".py")
                     else "." not in ident and cuda_defines(resolved, ident))
            if not found:
                problems.append(f"[`{ident}`]({target}): {os.path.basename(resolved)} defines no {ident}")
    return problems


def test_paths_named_in_code_spans_exist():
    """`tests/test_cupy_host.py`, `bench/kernels.py`, ...: a repository path written as code, not as a
    link, must exist too (from the repository's root)."""
    missing = []
    for page in pages():
        text = FENCE.sub("", open(page, encoding="utf-8").read())
        for span in re.findall(r"`([\w./-]+/[\w.-]+\.(?:py|cu|cuh|md|sh|txt))`", text):
            if not span.startswith("docs/derivations/<") and not os.path.exists(os.path.join(ROOT, span)):
                missing.append(f"{os.path.relpath(page, ROOT)}: `{span}`")
    assert missing == []


# --- the derivation checks ------------------------------------------------------------------------

def _shown_output(page, script):
    """The lines of the fenced block that opens with `$ python docs/derivations/<script>` on `page`."""
    text = open(page, encoding="utf-8").read()
    block = re.search(r"^```\n\$ python docs/derivations/" + re.escape(script) + r"\n(.*?)^```", text, re.S | re.M)
    return block.group(1).splitlines() if block else None


def _without_numbers(lines):
    return [re.sub(r"\d+(\.\d+)?(e[+-]\d+)?", "#", line.rstrip()) for line in lines]


@pytest.mark.parametrize("script", check_scripts(), ids=os.path.basename)
def test_derivation_check_runs_and_agrees(script):
    run = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, f"{os.path.basename(script)} failed:\n{run.stdout}\n{run.stderr}"
    lines = run.stdout.splitlines()
    assert sum(line.rstrip().endswith(" ok") for line in lines) >= 3, run.stdout   # it printed its agreements
    assert not any(line.rstrip().endswith("FAIL") for line in lines), run.stdout
    assert lines[-1].endswith("all checks agree"), run.stdout
    # the page shows this run: the same lines, the same verdicts (the last digits may vary with the BLAS)
    shown = _shown_output(script[:-3] + ".md", os.path.basename(script))
    assert shown is not None, f"{os.path.basename(script)[:-3]}.md shows no run of its check"
    assert _without_numbers(shown) == _without_numbers(lines)


def test_every_derivation_page_has_its_check_and_links_it():
    pages_ = {f[:-3] for f in os.listdir(DERIVATIONS) if f.endswith(".md")}
    scripts = {os.path.basename(s)[:-3] for s in check_scripts()}
    assert pages_ and pages_ == scripts, f"pages without a check: {pages_ - scripts}; checks without a page: {scripts - pages_}"
    for stem in pages_:
        targets = [t for _, t in links(open(os.path.join(DERIVATIONS, stem + ".md"), encoding="utf-8").read())]
        assert f"{stem}.py" in targets, f"{stem}.md does not link its check {stem}.py"


def test_a_failing_check_exits_non_zero():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import fd; "
            "fd.check('a wrong formula', 0.5, 1e-6); fd.finish('demo')")
    run = subprocess.run([sys.executable, "-c", code, DERIVATIONS], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "FAIL" in run.stdout, run.stdout


# --- the defaults the pages state -----------------------------------------------------------------

# (file, pattern, recipe, key): the pattern's group, found once in the file, is what the page says
# recipe's setting `key` is (RECIPES in vaegan/recipes.py; recipe None: a constant of that module). A page
# stating another value fails, so does a recipe changed under its pages, and so does a sentence rewritten
# so that its pattern no longer finds it (update the row with the sentence). A boolean is stated as an
# option, `--name` or `--no-name`: the group is the "no-".
STATED_DEFAULTS = [
    ("README.md", r"600 steps \((\d+) epochs\)", None, "SAMPLE_EPOCHS"),
    ("README.md", r"latent space, a mixture of (\d+) Gaussians fitted by EM", None, "DENSITY_COMPONENTS"),
    ("README.md", r"python cli.py fit-density runs/film-broad96x64 \[--k (\d+)\]", None, "DENSITY_COMPONENTS"),
    ("README.md", r"`--pixel-weight (\S+)` \(p\)", "default", "pixel_weight"),
    ("README.md", r"`--gen-loss (\w+) --gen-weight \S+` \(w:", "default", "gen_loss"),
    ("README.md", r"`--gen-loss \w+ --gen-weight (\S+)` \(w:", "default", "gen_weight"),
    ("README.md", r"`--(no-)?prior-bn-stats` \(the decoder's", "default", "prior_bn_stats"),
    ("README.md", r"`--lr (\S+)`,\s+`--kl-weight", "default", "lr"),
    ("README.md", r"`--kl-weight (\S+)` \(the prior 30 times", "default", "kl_weight"),
    ("README.md", r"`--ema (\S+)` \(the pictures", "default", "ema"),
    ("README.md", r"`--laplacian-weight (\S+)` \(l: the pixel error's", "default", "laplacian_weight"),
    ("README.md", r"`--denoise (\S+)` \(the output filter above", "default", "denoise"),
    ("README.md", r"an \*\*output filter\*\*,\s+`--denoise (\S+)`", "default", "denoise"),
    ("bench/README.md", r"- \*\*(\S+) is the default\*\* \(the default recipe; `larsen`", "default", "denoise"),
    ("docs/journey.md", r"\(`--denoise (\S+)`: the\s+decoder's fine grain", "default", "denoise"),
    ("docs/README.md", r"default recipe sets them .*?\s`laplacian_weight = (\S+)`", "default", "laplacian_weight"),
    ("README.md", r"`--recipe larsen` is the paper's: the learned similarity alone \(p = (\d+)\)", "larsen", "pixel_weight"),
    ("README.md", r"the (\w+) L_gen at w = \d+, the\s+prior pass", "larsen", "gen_loss"),
    ("README.md", r"the \w+ L_gen at w = (\d+), the\s+prior pass", "larsen", "gen_weight"),
    ("README.md", r"prior pass updating the statistics, lr (\S+);", "larsen", "lr"),
    ("README.md", r"\(`--noise-schedule ([\d.@,]+)`, or `linear", "default", "noise_schedule"),
    ("README.md", r"Losses are means, so `--gamma (\S+)`", "default", "gamma"),
    ("vaegan/step.py", r'gen_loss = "(\w+)" in the default recipe', "default", "gen_loss"),
    ("vaegan/step.py", r"\(pixel_weight = (\S+) in the default recipe\)", "default", "pixel_weight"),
    ("docs/README.md", r"default recipe sets them .*?\s`gamma = (\S+)`", "default", "gamma"),
    ("docs/README.md", r"default recipe sets them .*?\s`gen_loss = (\w+)`", "default", "gen_loss"),
    ("docs/README.md", r"default recipe sets them .*?\s`gen_weight = (\S+)`", "default", "gen_weight"),
    ("docs/README.md", r"default recipe sets them .*?\s`pixel_weight = (\S+)`", "default", "pixel_weight"),
    ("docs/README.md", r"default recipe sets them .*?\s`kl_weight = (\S+)`", "default", "kl_weight"),
    ("docs/README.md", r"default recipe sets them .*?\sAdam's `lr = (\S+)`", "default", "lr"),
    ("docs/README.md", r"--recipe larsen`\):\s+`gen_weight = (\S+)`", "larsen", "gen_weight"),
    ("docs/README.md", r"--recipe larsen`\):.*?\s`pixel_weight = (\S+)`", "larsen", "pixel_weight"),
    ("docs/README.md", r"--recipe larsen`\):.*?\s`kl_weight = (\S+)`", "larsen", "kl_weight"),
    ("docs/README.md", r"--recipe larsen`\):.*?\s`lr = (\S+)`", "larsen", "lr"),
    ("docs/journey.md", r"at the default batch of (\d+)", "default", "batch_size"),
    ("docs/journey.md", r"the default recipe's `kl_weight = (\S+)`", "default", "kl_weight"),
    ("docs/journey.md", r"gen_loss = (\w+) \(the default recipe's\)", "default", "gen_loss"),
    ("docs/journey.md", r"\s+(\w+) \(the seed recipe's\)", "seed", "gen_loss"),
    ("docs/journey.md", r"\(pixel_weight = (\S+) in the default recipe\)", "default", "pixel_weight"),
    ("docs/derivations/bce_with_logits.md", r"the default recipe's \(`gen_loss = (\w+)`\)", "default", "gen_loss"),
    ("docs/derivations/bce_with_logits.md", r'\* "(\w+)", the seed recipe\'s', "seed", "gen_loss"),
    ("docs/derivations/adam_bias_correction.md", r"default recipe, `lr = (\S+)`", "default", "lr"),
    ("docs/derivations/adam_bias_correction.md", r"`lr = (\S+)` in the `larsen`\s+and `seed` recipes",
     "larsen", "lr"),
    ("docs/derivations/adam_bias_correction.md", r"`lr = (\S+)` in the `larsen`\s+and `seed` recipes",
     "seed", "lr"),
]


def _stated(path, pattern):
    found = list(re.finditer(pattern, open(os.path.join(ROOT, path), encoding="utf-8").read(), re.S))
    assert len(found) == 1, f"{path}: {len(found)} places match {pattern!r} (one expected: update the table)"
    return found[0].group(1)


def _same(stated, value):
    if isinstance(value, bool):
        return (stated is None) == value
    if isinstance(value, (int, float)):
        try:
            return float(stated) == value
        except ValueError:
            return False
    return stated == value


@pytest.mark.parametrize("path, pattern, recipe, key", STATED_DEFAULTS,
                         ids=[f"{p}:{r or 'recipes'}.{k}" for p, _, r, k in STATED_DEFAULTS])
def test_a_default_the_docs_state_is_the_recipes(path, pattern, recipe, key):
    import vaegan.recipes as recipes

    value = getattr(recipes, key) if recipe is None else recipes.RECIPES[recipe][key]
    stated = _stated(path, pattern)
    assert _same(stated, value), f"{path} says {recipe or 'vaegan.recipes'} {key} is {stated!r}; it is {value!r}"


def test_the_stated_defaults_checker_catches_a_wrong_value():
    assert _same("1e-3", 1e-3) and _same("30", 30.0) and _same(None, True) and _same("no-", False)
    assert not (_same("2e-4", 1e-3) or _same("auto", "auto*30") or _same("no-", True) or _same("x", 1.0))


# --- the links ------------------------------------------------------------------------------------

@pytest.mark.parametrize("page", pages(), ids=lambda p: os.path.relpath(p, DOCS))
def test_links_resolve_and_named_functions_exist(page):
    assert link_problems(page) == []


def test_every_page_is_reachable_from_the_start_page():
    start = os.path.join(DOCS, "README.md")
    seen, todo = {start}, [start]
    while todo:
        page = todo.pop()
        for _, target in links(open(page, encoding="utf-8").read()):
            path = os.path.normpath(os.path.join(os.path.dirname(page), target.split("#", 1)[0]))
            if path.endswith(".md") and path.startswith(DOCS) and path not in seen and os.path.exists(path):
                seen.add(path)
                todo.append(path)
    assert set(pages()) - seen == set()


def test_the_link_checker_catches_what_it_should(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "mod.py").write_text("X = 1\n\ndef real():\n    pass\n\nclass Box:\n    def open(self):\n        pass\n")
    (tmp_path / "k.cu").write_text("template <typename T>\n__global__ void kern(const T* x,\n    int n) {\n}\n")
    page = tmp_path / "docs" / "p.md"
    page.write_text("[`real`](../mod.py) [`Box.open`](../mod.py) [`X`](../mod.py) [`kern`](../k.cu) "
                    "[mod.py](../mod.py) `[not](a-link.py)`\n```\n[`inside`](../nowhere.py)\n```\n")
    assert link_problems(str(page)) == []
    (tmp_path / "docs" / "q.md").write_text("# Title\n## 2. The second part\n")
    page.write_text("[a](q.md#title) [b](q.md#2-the-second-part) [c](#top)\n# Top\n")
    assert link_problems(str(page)) == []
    page.write_text("[`ghost`](../mod.py) [`Box.shut`](../mod.py) [`nokern`](../k.cu) [gone](../gone.py) "
                    "[`real`](../mod.py#L3) [d](q.md#nothing) [e](#nowhere)\n")
    problems = link_problems(str(page))
    assert len(problems) == 7, problems


def test_the_tests_map_lists_every_test_file_and_nothing_else():
    """tests/README.md names every .py file of tests/ in a table's first column, and only those."""
    text = open(os.path.join(ROOT, "tests", "README.md"), encoding="utf-8").read()
    listed = {name for row in re.findall(r"^\| ([^|]+) \|", text, re.M) for name in re.findall(r"`([\w.]+\.py)`", row)}
    present = {f for f in os.listdir(os.path.join(ROOT, "tests")) if f.endswith(".py") and f != "__init__.py"}
    assert listed == present, f"missing from the map: {sorted(present - listed)}; not there: {sorted(listed - present)}"
