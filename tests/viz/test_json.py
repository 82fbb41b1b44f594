"""The tape's JSON export: schema, small ids, JSON-safe attributes, atomic writes, round trips."""
import json
import os

import numpy as np
import pytest

import tapegraph as tg
from tapegraph import profile

from .graphs import mlp


def without_stats(d):
    return {**d, "profiled": None, "nodes": [{**n, "stats": None} for n in d["nodes"]]}


def test_schema_ids_kinds_and_layers():
    tape, _, (x, w1, b1, w2) = mlp()
    d = tape.to_json()
    assert d["schema"] == "tapegraph.tape/1" and d["profiled"] is False
    assert [n["op"] for n in d["nodes"]] == ["matmul", "add", "relu", "matmul", "mul", "mean", "mul"]
    assert [n["index"] for n in d["nodes"]] == list(range(7))
    assert d["nodes"][0]["inputs"] == [0, 1] and d["nodes"][0]["output"] == 2      # order of first appearance
    assert d["nodes"][1]["inputs"] == [2, 3] and d["nodes"][4]["inputs"] == [7, 7]  # o * o: the same id twice
    assert sorted(map(int, d["tensors"])) == list(range(len(d["tensors"])))
    t = d["tensors"]
    assert t["0"] == {"shape": [8, 16], "dtype": "float32", "name": "x", "requires_grad": False, "kind": "input"}
    assert t["1"]["kind"] == "parameter" and t["1"]["name"] == "fc1.weight" and t["1"]["shape"] == [16, 32]
    assert t["2"]["kind"] == "intermediate" and t["2"]["name"] is None
    const = [v for v in t.values() if v["kind"] == "constant"]
    assert const == [{"shape": [], "dtype": "float32", "name": None, "requires_grad": False, "kind": "constant",
                      "value": 0.5}]
    assert [n["layer"] for n in d["nodes"]] == ["fc1"] * 3 + ["fc2"] + [""] * 3
    assert d["nodes"][0]["needs_input_grad"] == [False, True]
    assert all(n["stats"] is None for n in d["nodes"])
    assert json.loads(json.dumps(d, allow_nan=False)) == d


def test_attrs_become_plain_json():
    x = tg.tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    with tg.Tape() as tape:
        a = x[np.array([1, 0]), ..., 1:4:2]
        b = tg.clip(a, np.float32(-1.5), np.inf)
        c = b.sum(axis=(0, 1))
    d = tape.to_json()
    assert d["nodes"][0]["attrs"] == {"index": [{"array": [2], "dtype": "int64"}, {"ellipsis": True},
                                                {"slice": [1, 4, 2]}]}
    assert d["nodes"][1]["attrs"] == {"lo": -1.5, "hi": "inf"}
    assert d["nodes"][2]["attrs"] == {"axis": [0, 1], "keepdims": False}
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert c.shape == (2,)


def test_two_runs_give_equal_json_apart_from_stats():
    a = mlp(profile=True, seed=1)[0].to_json()
    b = mlp(profile=True, seed=2)[0].to_json()
    assert a["profiled"] and all(n["stats"]["forward_s"] >= 0 for n in a["nodes"])
    assert without_stats(a) == without_stats(b)


def test_release_keeps_the_export():
    tape, loss, _ = mlp()
    before = tape.to_json()
    tape.backward(loss)
    assert tape.to_json() == before


def test_save_load_round_trip(tmp_path):
    tape, loss, _ = mlp(profile=True)
    tape.backward(loss)
    path = tmp_path / "step.json"
    assert tape.save_json(path) == str(path)
    assert profile.load_json(path) == tape.to_json()
    assert os.listdir(tmp_path) == ["step.json"]


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "step.json"
    path.write_text("previous")

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(profile.json, "dump", broken)
    with pytest.raises(OSError, match="disk full"):
        profile.save_json(mlp()[0], path)
    assert path.read_text() == "previous" and os.listdir(tmp_path) == ["step.json"]


def test_load_rejects_other_json(tmp_path):
    p = tmp_path / "other.json"
    p.write_text('{"nodes": []}')
    with pytest.raises(ValueError, match="load_json: .* is not a tapegraph tape export"):
        profile.load_json(p)
    p.write_text('{"schema": "tapegraph.tape/9", "nodes": [], "tensors": {}}')
    with pytest.raises(ValueError, match="this version reads 'tapegraph.tape/1'"):
        profile.load_json(p)
    with pytest.raises(TypeError, match="to_json: expected a Tape"):
        profile.to_json({"nodes": "x"})
