"""Gradient-check cases shared by tests/ops: every test module here exports GRAD_CASES = {op_name: [Case, ...]}.

tests/ops/test_registry.py fails when a registered op has no case, and each case proves it really records its op.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import tapegraph as tg


@dataclass
class Case:
    fn: object                      # fn(*tensors) -> Tensor
    inputs: list                    # arrays (float64 ones are differentiated)
    id: str = ""
    atol: float = 1e-5
    rtol: float = 1e-3
    wrt: tuple | None = None
    kwargs: dict = field(default_factory=dict)


def rand(*shape, seed=0, low=None, high=None, distinct=False):
    """float64 test data. ``low``/``high`` give a uniform range; ``distinct`` spreads values (no near-ties)."""
    rng = np.random.default_rng(seed + 7919 * len(shape) + sum(shape))
    if distinct:
        n = int(np.prod(shape)) if shape else 1
        return (rng.permutation(n).reshape(shape) * 0.37 - n * 0.15).astype(np.float64)
    if low is not None:
        return rng.uniform(low, high, size=shape)
    return rng.standard_normal(shape)


def params(cases: dict):
    """pytest.param list (op, case) with readable ids."""
    import pytest
    out = []
    for op, items in cases.items():
        for i, c in enumerate(items):
            out.append(pytest.param(op, c, id=f"{op}-{c.id or i}"))
    return out


def run_case(op: str, case: Case):
    """The case must record ``op`` on the tape and pass a float64 central-difference gradient check."""
    ins = [tg.tensor(x, requires_grad=np.asarray(x).dtype.kind == "f", dtype=np.asarray(x).dtype) for x in case.inputs]
    with tg.Tape() as tape:
        case.fn(*ins)
    recorded = {n.op.name for n in tape}
    assert op in recorded, f"case {case.id!r} for {op} recorded only {sorted(recorded)}"
    assert tg.gradcheck(case.fn, case.inputs, atol=case.atol, rtol=case.rtol, wrt=case.wrt)
