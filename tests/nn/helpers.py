"""Finite-difference gradients of whole models with respect to their parameters (float64)."""
import numpy as np

import tapegraph as tg


def check_param_grads(model, x, loss_fn, eps=1e-6, atol=1e-7, rtol=1e-5):
    """Tape gradients of ``loss_fn(model(x))`` for every parameter vs central differences; returns names checked."""
    with tg.Tape() as tape:
        loss = loss_fn(model(x))
    tape.backward(loss)
    names = []
    for name, p in model.named_parameters():
        assert p.data.dtype == np.float64, name
        analytic = p.grad.copy()
        numeric = np.zeros_like(p.data)
        flat = p.data.reshape(-1)
        for j in range(flat.size):
            orig = flat[j]
            vals = []
            for d in (eps, -eps):
                flat[j] = orig + d
                with tg.no_grad():
                    vals.append(float(loss_fn(model(x)).data))
            flat[j] = orig
            numeric.flat[j] = (vals[0] - vals[1]) / (2 * eps)
        np.testing.assert_allclose(analytic, numeric, atol=atol, rtol=rtol, err_msg=f"gradient of {name}")
        names.append(name)
    model.zero_grad()
    return names
