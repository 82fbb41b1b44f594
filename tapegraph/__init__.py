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
from . import losses
from . import nn, optim
from .viz import GraphvizNotFound, render  # noqa: F401
from . import data
from . import distributed  # noqa: F401  (mpi4py is imported by distributed.init() only)
from .nn import callbacks  # noqa: F401  (tg.callbacks.EarlyStopping, Keras's spelling)

__version__ = "0.1.0"

allocator._tune_on_import()


def zeros(shape, dtype=None, requires_grad=False) -> Tensor:
    import numpy as np
    return Tensor(np.zeros(shape, dtype=dtype or np.float32), requires_grad=requires_grad)


def ones(shape, dtype=None, requires_grad=False) -> Tensor:
    import numpy as np
    return Tensor(np.ones(shape, dtype=dtype or np.float32), requires_grad=requires_grad)


def randn(*shape, dtype=None, requires_grad=False, rng=None) -> Tensor:
    """Standard normal samples from the global generator (or ``rng``)."""
    import numpy as np
    data = get_rng(rng).standard_normal(shape, dtype=np.float32 if dtype is None else dtype)
    return Tensor(data, requires_grad=requires_grad, dtype=data.dtype)
