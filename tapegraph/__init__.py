"""tapegraph: a define-by-run autodiff engine on NumPy with an explicit tape you can read, render and trust."""
from . import allocator
from .tensor import Tensor, tensor
from .tape import Node, Tape, is_grad_enabled, no_grad, unbroadcast
from .function import REGISTRY, Function
from .gradcheck import GradcheckError, gradcheck
from .anomaly import detect_anomaly
from .random import get_rng, manual_seed
from .ops import (abs, add, avg_pool2d, batch_norm, binary_crossentropy, broadcast_to, categorical_crossentropy, clip,
                  concatenate, conv2d, div, dropout, exp, expand, flatten, getitem, leaky_relu, log, log_softmax,
                  matmul, max, max_pool2d, maximum, mean, mean_squared_error, min, minimum, mul, neg, pad, permute,
                  pow, relu, reshape, sigmoid, softmax, sqrt, squeeze, stack, sub, sum, tanh, transpose, unsqueeze,
                  var, where)
from .ops import huber, kl_divergence, mean_absolute_error  # noqa: F401
from .ops import (adaptive_avg_pool2d, adaptive_max_pool2d, elu, gelu, group_norm, hard_sigmoid,  # noqa: F401
                  hard_swish, interpolate, layer_norm, max_unpool2d, silu, softplus)
from .ops import conv1d, conv_transpose2d  # noqa: F401
from . import losses
from . import nn, optim
from .viz import GraphvizNotFound, render  # noqa: F401
from . import data
from . import distributed  # noqa: F401  (mpi4py is imported by distributed.init() only)
from . import onnx  # noqa: F401  (the onnx package is imported on first export only)
from .nn import callbacks  # noqa: F401  (tg.callbacks.EarlyStopping, Keras's spelling)

__version__ = "0.1.0"

allocator._tune_on_import()


def _filled(who, fill, shape, dtype, requires_grad) -> Tensor:
    import numpy as np
    from .ops.shape import _shape_arg
    shape = _shape_arg(who, shape)
    if not isinstance(requires_grad, (bool, np.bool_, int)):
        raise TypeError(f"{who}: requires_grad must be a bool, got {type(requires_grad).__name__}")
    try:
        dt = np.dtype(np.float32 if dtype is None else dtype)
    except (TypeError, ValueError):
        raise TypeError(f"{who}: dtype of type {type(dtype).__name__} is not a numpy dtype") from None
    try:
        data = fill(shape, dtype=dt)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{who}: cannot make shape {shape} of dtype {dt} ({e})") from None
    except MemoryError:
        nbytes = int(np.prod(shape, dtype=object)) * dt.itemsize
        raise MemoryError(f"{who}: cannot allocate shape {shape} {dt} ({nbytes} bytes)") from None
    return Tensor(data, requires_grad=requires_grad)


def zeros(shape, dtype=None, requires_grad=False) -> Tensor:
    import numpy as np
    return _filled("zeros", np.zeros, shape, dtype, requires_grad)


def ones(shape, dtype=None, requires_grad=False) -> Tensor:
    import numpy as np
    return _filled("ones", np.ones, shape, dtype, requires_grad)


def randn(*shape, dtype=None, requires_grad=False, rng=None) -> Tensor:
    """Standard normal samples from the global generator (or ``rng``)."""
    import numpy as np
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        shape = shape[0]                       # randn((2, 3)) as well as randn(2, 3)
    try:
        dt = np.dtype(np.float32 if dtype is None else dtype)
    except (TypeError, ValueError):
        raise TypeError(f"randn: dtype must be a float dtype, got {type(dtype).__name__}") from None
    if dt.kind != "f":
        raise TypeError(f"randn: dtype must be a float dtype, got {dt}")
    gen = get_rng(rng)
    return _filled("randn", lambda s, dtype: gen.standard_normal(s, dtype=dtype), shape, dt, requires_grad)
