"""The hostile pass as tests (issue 13): the whole one-argument-at-a-time grid of hostile_lib (about 5,600 inputs,
a few seconds), then hypothesis combinations (several arguments bad at once, random shapes and dtypes).

Every input must end OK (the same result as the valid base call where the mutation keeps the math) or CLEAN (a
ValueError/TypeError/... naming the op, layer or file); never BARE (an unnamed error), SILENT (a wrong result or
a bad argument taken) or HANG. The bigger standalone run: ``python tests/hostile/run_hostile.py``.
"""
import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

import tapegraph as tg

from . import hostile_lib as H

BAD = ("BARE", "SILENT", "HANG", "BASEFAIL", "SUSPECT")


def _bad(findings):
    return [f for f in findings if f[0] in BAD]


def test_op_grid_has_no_bare_or_silent_outcome():
    counts, findings = H.run_all(H.op_targets())
    assert counts.get("CLEAN", 0) > 1000 and counts.get("OK", 0) > 300
    assert _bad(findings) == []


def test_layer_grid_has_no_bare_or_silent_outcome():
    counts, findings = H.run_all(H.layer_targets())
    assert counts.get("CLEAN", 0) > 1000
    assert _bad(findings) == []


def test_optim_loop_viz_grid_has_no_bare_or_silent_outcome():
    counts, findings = H.run_misc(H.misc_cases())
    assert counts.get("CLEAN", 0) > 900
    assert _bad(findings) == []


# -- hypothesis: several hostile arguments at once, on random shapes ----------------------------------------------
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
OP_TARGETS = H.op_targets()
LAYER_TARGETS = H.layer_targets()
VALUES = {k: st.sampled_from(v) for k, v in H.BAD_VALUES.items()}


@st.composite
def combos(draw, targets):
    t = draw(st.sampled_from(targets))
    args = list(t.base_args)
    bad_kinds = []
    for i, kind in enumerate(t.kinds):
        if kind in VALUES and draw(st.booleans()):
            v = draw(VALUES[kind])
            args[i] = v
            bad_kinds.append((kind, v, i in t.nullable, i in t.documented))
    if draw(st.booleans()):
        base = args[t.primary]
        if isinstance(base, np.ndarray):
            shape = tuple(draw(st.integers(0, 6)) if draw(st.booleans()) else s for s in base.shape)
            dtype = draw(st.sampled_from([np.float32, np.float64, np.float16, np.int64, np.bool_]))
            args[t.primary] = (np.random.default_rng(0).standard_normal(shape) * 2).astype(dtype)
    return t, args, bad_kinds


def _check(t, args, bad_kinds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            H.run_call(t.fn, args)
        except Exception as e:  # noqa: BLE001 - the classification is the test
            c = H.classify_exc(e, t)
            assert c == "CLEAN", f"{t.name}: {c} {type(e).__name__}: {e}"
            return
    for kind, v, nullable, documented in bad_kinds:
        if not documented:
            assert not H.must_refuse(kind, v, nullable), f"{t.name}: accepted {v!r} for a {kind} argument"


@SETTINGS
@given(case=combos(OP_TARGETS))
def test_ops_random_combinations(case):
    _check(*case)


@SETTINGS
@given(case=combos(LAYER_TARGETS))
def test_layers_random_combinations(case):
    _check(*case)


def test_driver_catches_a_bare_error():
    """The classifier itself: an IndexError from deep inside is BARE, a named ValueError CLEAN."""
    t = H.Target("demo", lambda x: np.empty(0)[3], [np.ones(2)], ["array"])
    assert H.classify(t, [np.ones(2)], ("base", None), None)[0] == "BARE"
    t2 = H.Target("demo", lambda x: (_ for _ in ()).throw(ValueError("demo: x is bad")), [np.ones(2)], ["array"])
    assert H.classify(t2, [np.ones(2)], ("base", None), None)[0] == "CLEAN"
    t3 = H.Target("demo", lambda x, k: tg.tensor(np.ones(2) * k), [np.ones(2), 2], ["array", "int"])
    assert H.classify(t3, [np.ones(2), True], ("arg", ("int", True, False)), None)[0] == "SILENT"
