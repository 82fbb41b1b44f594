"""Issue 13: load_json/diff validate tape JSON files and name the file (and the field) on any defect."""
import json

import numpy as np
import pytest

import tapegraph as tg
from tapegraph import profile


def _export(tmp_path):
    w = tg.tensor(np.ones(3, np.float32), requires_grad=True, name="w")
    with tg.Tape() as tape:
        (w * 2.0).sum()
    return tape.to_json()


@pytest.mark.parametrize("content,match", [
    (b"", "is empty"),
    (b"{not json", r"is not valid JSON \(line 1, column 2"),
    (b"\xff\xfe{}", r"is not UTF-8 text \(byte 0\)"),
    (b"[" * 100000 + b"]" * 100000, "nests JSON too deeply"),
    (b'{"schema": "tapegraph.tape/1"}', r": profiled: missing"),
    (b"[1, 2]", "is not a tapegraph tape export"),
])
def test_bad_files_are_named(tmp_path, content, match):
    p = tmp_path / "bad.json"
    p.write_bytes(content)
    with pytest.raises(ValueError, match=rf"^load_json: .*bad\.json.*{match}"):
        profile.load_json(p)


def test_missing_keys_and_dangling_ids_name_the_field(tmp_path):
    good = _export(tmp_path)
    p = tmp_path / "t.json"
    for mutate, match in [
        (lambda d: d["nodes"][0].pop("inputs"), r"nodes\[0\]\.inputs: missing"),
        (lambda d: d["nodes"][1].__setitem__("output", 99), r"nodes\[1\]\.output: tensor id 99 is not in"),
        (lambda d: d["tensors"]["0"].__setitem__("shape", [-1]), r"tensors\['0'\]\.shape: expected a list of"),
        (lambda d: d["nodes"][0].__setitem__("needs_input_grad", [True]), r"nodes\[0\]\.needs_input_grad: expected 2 booleans"),
    ]:
        d = json.loads(json.dumps(good))
        mutate(d)
        p.write_text(json.dumps(d))
        with pytest.raises(ValueError, match=rf"^load_json: .*t\.json: {match}"):
            profile.load_json(p)
        with pytest.raises(ValueError, match=rf"^load_json: .*t\.json: {match}"):
            profile.diff(good, p)
        with pytest.raises(ValueError, match=rf"^diff: the dict: {match}"):
            profile.diff(good, d)
    p.write_text(json.dumps(good))
    assert profile.load_json(p) == good
    assert "structure: same 2 ops" in profile.diff(good, p)
