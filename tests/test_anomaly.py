"""Anomaly mode names the op, its tape index, its layer and the user's file:line of the first NaN/Inf."""
import numpy as np
import pytest

import tapegraph as tg
from tapegraph.tape import scope


def test_forward_nan_is_reported_with_op_index_layer_and_line():
    x = tg.tensor([1.0, -1.0], requires_grad=True)
    with tg.detect_anomaly(), np.errstate(invalid="ignore"):
        with tg.Tape() as tape:
            y = x * 2.0
            with scope("block1"):
                with pytest.raises(FloatingPointError) as info:
                    tg.log(y)  # the line the message must point at
    msg = str(info.value)
    assert "forward of op log (tape index 1) in layer 'block1'" in msg
    assert f"{__file__}:" in msg and "1 NaN and 0 Inf" in msg
    assert len(tape) == 2


def test_backward_inf_is_reported():
    x = tg.tensor([0.0, 4.0], requires_grad=True)
    with tg.Tape(check_nan=True) as tape:
        loss = tg.sqrt(x).sum()
    with np.errstate(divide="ignore"), pytest.raises(FloatingPointError,
                                                     match=r"backward of op sqrt \(tape index 0\).* 0 NaN and 1 Inf .*input 0"):
        tape.backward(loss)


def test_without_anomaly_mode_nan_passes_silently_and_costs_no_origin():
    x = tg.tensor([-1.0], requires_grad=True)
    with np.errstate(invalid="ignore"):
        with tg.Tape() as tape:
            y = tg.log(x)
    assert np.isnan(y.data).all()
    assert "_origin" not in tape[0].__dict__
