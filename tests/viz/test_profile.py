"""The profile table of Tape(profile=True). Tests never measure real time: a fake clock drives the profiler."""
import io
import re

import numpy as np
import pytest

import tapegraph as tg
from tapegraph import profile, tape as _tape
from tapegraph.tape import scope

from .graphs import mlp


class FakeClock:
    """Stands in for the profiler's clock (tapegraph.tape.profile_clock): every reading advances by ``step`` s."""

    def __init__(self, step=0.001):
        self.now, self.step = 0.0, step

    def __call__(self):
        self.now += self.step
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = FakeClock()
    monkeypatch.setattr(_tape, "profile_clock", c)
    return c


def test_every_node_has_stats_and_forward_times_fit_in_the_block(clock):
    start = clock()
    tape, loss, _ = mlp(profile=True)
    wall = clock() - start
    assert all(n.stats is not None for n in tape)
    assert all(n.stats["backward_s"] is None for n in tape)
    assert 0 < sum(n.stats["forward_s"] for n in tape) <= wall
    tape.backward(loss)
    assert all(n.stats["backward_s"] is not None and n.stats["backward_s"] > 0 for n in tape)
    assert tape.nodes[0].stats["saved_bytes"] == (8 * 16 + 16 * 32) * 4   # matmul keeps both float32 inputs


def test_real_clock_stats_are_sane():
    tape, loss, _ = mlp(profile=True)
    tape.backward(loss)
    for n in tape:
        assert n.stats["forward_s"] >= 0 and n.stats["backward_s"] >= 0 and n.stats["saved_bytes"] >= 0


def test_summary_rows_totals_and_op_kinds(clock):
    tape, loss, _ = mlp(profile=True)
    tape.backward(loss)
    out = io.StringIO()
    text = tape.summary(file=out)
    assert out.getvalue() == text + "\n"
    lines = text.splitlines()
    assert lines[0].startswith("tape profile: 7 ops, forward 7.000 ms, backward 7.000 ms")
    rows = [ln for ln in lines if re.match(r"^\d+\s", ln)]
    assert sorted(int(r.split()[0]) for r in rows) == list(range(7))
    assert all(r.split()[-1] == "14.3%" for r in rows)            # 1 ms forward + 1 ms backward each, of 14 ms
    total = next(ln for ln in lines if "total (7 ops)" in ln)
    assert total.split()[-4:] == ["7.000", "7.000", f"{sum(n.stats['saved_bytes'] for n in tape) / 1e6:.3f}",
                                  "100.0%"]
    kinds = text[text.index("by op kind:"):]
    for op in {n.op.name for n in tape}:
        assert re.search(rf"^{op}\s", kinds, re.M)
    assert re.search(r"^matmul\s+2\s+2\.000\s+2\.000", kinds, re.M)
    fc1 = next(r for r in rows if r.split()[0] == "0")
    assert "fc1" in fc1 and "f32[8,16] f32[16,32]" in fc1 and "f32[8,32]" in fc1


def test_summary_sorts_by_cost_and_cuts_at_top(clock):
    x = tg.tensor(np.ones(4), requires_grad=True)
    with tg.Tape(profile=True) as tape:
        y = tg.exp(x)
        clock.step = 0.005                      # the next op's forward reads 5 ms
        z = tg.tanh(y)
        clock.step = 0.001
        s = z.sum()
    text = profile.summary(tape, file=io.StringIO(), top=1)
    rows = [ln for ln in text.splitlines() if re.match(r"^\d+\s", ln)]
    assert len(rows) == 1 and rows[0].split()[1] == "tanh"
    assert "... 2 more ops" in text and "total (3 ops)" in text
    assert re.search(r"^exp\s", text[text.index("by op kind:"):], re.M)   # every kind still listed
    assert s.shape == ()


def test_summary_without_profile_is_a_clear_error():
    tape, _, _ = mlp()
    with pytest.raises(ValueError, match=r"summary: the tape was not profiled.*Tape\(profile=True\)"):
        tape.summary()
    with pytest.raises(ValueError, match="top must be"):
        mlp(profile=True)[0].summary(top=0)
    assert tg.Tape(profile=True).summary(file=io.StringIO()) == "tape profile: 0 ops"


def test_diff_compares_structure_and_times(clock, tmp_path):
    a = mlp(profile=True)[0]
    b = mlp(profile=True, seed=5)[0]
    text = profile.diff(a, b)
    assert text.startswith("structure: same 7 ops")
    assert re.search(r"^matmul\s+2\s+2\s+2\.000\s+2\.000", text, re.M)
    x = tg.tensor(np.ones((8, 16)))
    w = tg.tensor(np.ones((16, 32)), requires_grad=True)
    with tg.Tape() as other:
        with scope("fc1"):
            h = x @ w
        tg.sigmoid(h).sum()
    a.save_json(tmp_path / "a.json")
    text = profile.diff(tmp_path / "a.json", other)
    assert "differs at node 1: a add" in text and "b sigmoid" in text
    assert "fwd ms" not in text                                   # b was not profiled: counts only
    with pytest.raises(TypeError, match="diff: expected a Tape"):
        profile.diff(a, 3)
