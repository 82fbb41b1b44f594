"""Every ```python block of README.md runs as written: the README's snippets stay true.

Rules (the README states the reader's side of them under "Contents"):
- The README is cut at its "## " headings (a "### " subsection belongs to its "## " section); the text before the
  first heading is the section "intro".
- A section's blocks run in order, in one namespace, in a fresh Python process, in a temporary folder (files the
  snippets write land there), on the embedded MNIST sample (``TAPEGRAPH_DATA`` unset, no MPI launcher), with
  UserWarnings as errors.
- Each section starts from ``PREAMBLE`` (the imports the README says every snippet assumes); ``CONTINUES`` lists
  sections whose text says they continue another section's example, and ``SETUP`` the names a section's prose
  defines but its code does not (kept tiny, listed here so a reader of this file sees them).
- A block whose fence is preceded (blank lines aside) by ``<!-- norun: why -->`` (or ``<!-- norun -->``) is
  skipped; the marker or the text next to it says why.
- A block preceded by ``<!-- requires: module ... -->`` needs an optional extra: where one of those modules is
  missing, the section runs without that block and then reports a skip naming the extra to install (later blocks
  of the section must not use its names). A section that needs a program (``PROGRAMS``) skips without it.
  CI (.ci/run) installs every extra and Graphviz, so there every block runs.
"""
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
NORUN_PREFIX = "<!-- norun"                             # <!-- norun --> or <!-- norun: why -->
REQUIRES_MARK = re.compile(r"<!-- requires: ([\w. ]+) -->")
EXTRAS = {"matplotlib": "plot", "onnx": "onnx", "onnxruntime": "onnx", "mpi4py": "distributed",
          "nbconvert": "notebook", "torch": "torch"}
PREAMBLE = "import numpy as np\nimport tapegraph as tg\nfrom tapegraph import nn, optim, losses\n"
CONTINUES = {"The tape": "intro"}                        # "Continuing the example above"
SETUP = {
    # The section shows the training script's distributed lines; the model, loss and data are the reader's own.
    "Distributed training (MPI)": (
        "def build_model():\n"
        "    return nn.Sequential([nn.Flatten(), nn.Dense(10)], input_shape=(1, 28, 28))\n"
        "loss_fn = nn.SparseCategoricalCrossentropy(from_logits=True)\n"
        "(x, y), (xt, yt) = tg.data.load_mnist(dtype='float32')\n"
        "x, y, xt, yt = x[:256], y[:256], xt[:64], yt[:64]\n"),
}
PROGRAMS = {"Seeing a step: graphs, profiles, JSON": ["dot"]}   # section -> programs it runs (render needs dot)
EXPECT = {                                               # section -> (stdout patterns, files written)
    "intro": ([r"^\d+ "], []),
    "Models and training": ([r"'accuracy': 0\.\d+", r"^loss \d"], ["run.npz", "log.csv", "best.npz",
                                                                  "optimizer.npz"]),
    "Seeing a step: graphs, profiles, JSON": ([], ["step.svg", "step_backward.svg", "step.json", "flow.svg",
                                                   "flow.png", "curves.png", "model.onnx"]),
    "When a number goes wrong": ([r"anomaly: forward of op log \(tape index 2\)"], []),
}


def sections(text: str) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """``{section title: [(code, modules it requires), ...]}``: the runnable python blocks of a Markdown text, in
    order; "intro" is the part before the first "## " heading. Sections without a runnable block are left out."""
    out, title, previous = {}, "intro", ""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            title, previous = line[3:].strip(), ""
        elif line.strip() == "```python":
            j = i + 1
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            if j == len(lines):
                raise ValueError(f"README: the ```python block at line {i + 1} is never closed")
            mark = previous.strip()
            if not (mark.startswith(NORUN_PREFIX) and mark.endswith("-->")):
                needs = REQUIRES_MARK.fullmatch(mark)
                needs = tuple(needs.group(1).split()) if needs else ()
                out.setdefault(title, []).append(("\n".join(lines[i + 1:j]), needs))
            i, previous = j + 1, ""
            continue
        if line.strip():
            previous = line
        i += 1
    return out


SECTIONS = sections(README.read_text(encoding="utf-8"))


def test_block_extraction_rules():
    text = ("```python\nx = 0\n```\n## Models and training\n\n```python\na = 1\n```\n<!-- norun -->\n\n"
            "```python\nboom()\n```\ntext\n### Sub\n<!-- requires: onnx onnxruntime -->\n```python\nb = a + 1\n```\n"
            "<!-- norun: no data -->\n```python\nload()\n```\n## Data\n```bash\nls\n```\n"
            "## Last\n```python\nc = 3\n```\n")
    assert sections(text) == {"intro": [("x = 0", ())],
                              "Models and training": [("a = 1", ()), ("b = a + 1", ("onnx", "onnxruntime"))],
                              "Last": [("c = 3", ())]}
    with pytest.raises(ValueError, match="never closed"):
        sections("## A\n```python\nx = 1\n")


def test_every_section_with_code_is_run():
    # A section renamed in the README must be renamed here too, or its preamble/expectations silently vanish.
    for table in (CONTINUES, SETUP, PROGRAMS, EXPECT):
        assert set(table) <= set(SECTIONS), set(table) - set(SECTIONS)
    assert set(CONTINUES.values()) <= set(SECTIONS)
    assert sum(map(len, SECTIONS.values())) >= 15, "the README lost most of its code"
    assert README.read_text(encoding="utf-8").count(NORUN_PREFIX) <= 2, "keep norun blocks rare"
    needs = {m for blocks in SECTIONS.values() for _, ms in blocks for m in ms}
    assert needs <= set(EXTRAS), f"a requires marker names a module of no extra: {needs - set(EXTRAS)}"


def script_for(title: str) -> tuple[str, set[str]]:
    """The section's script (preamble, setup, blocks whose modules import) and the modules it had to leave out."""
    parts, left_out = [PREAMBLE], set()
    if title in CONTINUES:
        parts += [code for code, _ in SECTIONS[CONTINUES[title]]]
    if title in SETUP:
        parts.append(SETUP[title])
    for code, needs in SECTIONS[title]:
        missing = {m for m in needs if importlib.util.find_spec(m) is None}
        left_out |= missing
        if not missing:
            parts.append(code)
    return "\n\n".join(parts) + "\n", left_out


@pytest.mark.parametrize("title", list(SECTIONS))
def test_readme_section_runs_as_written(title, tmp_path):
    no_program = [p for p in PROGRAMS.get(title, []) if shutil.which(p) is None]
    if no_program:
        pytest.skip(f"README section {title!r} runs {', '.join(no_program)}: install Graphviz")
    code, left_out = script_for(title)
    script = tmp_path / "readme_section.py"
    script.write_text(code, encoding="utf-8")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for key in ("TAPEGRAPH_DATA", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"):
        env.pop(key, None)                               # the embedded sample, one process, as the README says
    proc = subprocess.run([sys.executable, "-W", "error::UserWarning", str(script)], cwd=tmp_path,
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, f"README section {title!r}:\n{proc.stderr[-4000:]}"
    patterns, files = EXPECT.get(title, ([], []))
    for pattern in patterns:
        assert re.search(pattern, proc.stdout, re.MULTILINE), (pattern, proc.stdout[-2000:])
    if left_out:                                         # the files of the left-out blocks are not there
        extras = ",".join(sorted({EXTRAS[m] for m in left_out}))
        pytest.skip(f"README section {title!r} ran without its blocks that need {', '.join(sorted(left_out))}: "
                    f'pip install -e ".[{extras}]"')
    for name in files:
        assert (tmp_path / name).is_file(), (name, sorted(p.name for p in tmp_path.iterdir()))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_contents_links_every_section_and_every_link_resolves():
    text = README.read_text(encoding="utf-8")
    headings = re.findall(r"^#{2,4} (.+)$", text, flags=re.MULTILINE)
    anchors = {slug(h) for h in headings}
    contents = text[text.index("Contents:"):text.index("\n\n", text.index("Contents:"))]
    linked = set(re.findall(r"\]\(#([^)]+)\)", contents))
    sections_ = {slug(h) for h in re.findall(r"^## (.+)$", text, flags=re.MULTILINE)}
    assert sections_ <= linked, f"Contents misses {sorted(sections_ - linked)}"
    broken = set(re.findall(r"\]\(#([^)]+)\)", text)) - anchors
    assert not broken, f"links to no heading: {sorted(broken)}"
    files = [f for f in re.findall(r"\]\(([^)#:]+)\)", text)]
    missing = [f for f in files if not (ROOT / f).exists()]
    assert files and not missing, f"links to missing files: {missing}"
