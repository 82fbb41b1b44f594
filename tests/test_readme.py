"""Every ```python block of the README's "Models and training" section runs as written, in order, in one namespace,
in a fresh process on the embedded MNIST sample.

Rules: the blocks are taken from the heading "## Models and training" to the next "## " heading; a block whose
fence is preceded (blank lines aside) by a line ``<!-- norun -->`` is skipped. The script runs in a temporary
folder (files the snippets write land there).
"""
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Models and training"


def python_blocks(text: str, section: str = SECTION) -> list[str]:
    """The runnable python blocks of ``section`` of a Markdown text, in order."""
    start = text.index(section + "\n")
    end = text.find("\n## ", start + len(section))
    body = text[start:] if end < 0 else text[start:end]
    blocks, previous = [], ""
    lines = body.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() == "```python":
            j = i + 1
            while lines[j].strip() != "```":
                j += 1
            if previous.strip() != "<!-- norun -->":
                blocks.append("\n".join(lines[i + 1:j]))
            i, previous = j + 1, ""
            continue
        if line.strip():
            previous = line
        i += 1
    return blocks


def test_block_extraction_rules():
    text = ("## Models and training\n\n```python\na = 1\n```\n<!-- norun -->\n\n```python\nboom()\n```\n"
            "text\n```python\nb = a + 1\n```\n## Data\n```python\nc = 3\n```\n")
    assert python_blocks(text) == ["a = 1", "b = a + 1"]


def test_models_and_training_snippets_run_as_written(tmp_path):
    blocks = python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 3, "the README's Models and training section lost its code"
    script = tmp_path / "readme_models.py"
    script.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get(
        "PYTHONPATH", ""))
    env.pop("TAPEGRAPH_DATA", None)                       # the embedded sample, as the README says
    proc = subprocess.run([sys.executable, "-W", "error::UserWarning", str(script)], cwd=tmp_path,
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert re.search(r"'accuracy': 0\.\d+", proc.stdout), proc.stdout[-2000:]
    assert (tmp_path / "run.npz").is_file() and (tmp_path / "log.csv").is_file()
