"""All ops, one module per family; importing this registers every op class in ``tapegraph.function.REGISTRY``."""
from .elementwise import (abs, add, clip, div, exp, log, maximum, minimum, mul, neg, pow, sqrt,  # noqa: F401
                          sub, where)
from .reduce import max, mean, min, sum, var  # noqa: F401
from .shape import (broadcast_to, concatenate, expand, flatten, getitem, pad, permute, reshape,  # noqa: F401
                    squeeze, stack, transpose, unsqueeze)
from .matmul import matmul  # noqa: F401
from .activation import leaky_relu, log_softmax, relu, sigmoid, softmax, tanh  # noqa: F401
from .loss import binary_crossentropy, categorical_crossentropy, mean_squared_error  # noqa: F401
from .loss import huber, kl_divergence, mean_absolute_error  # noqa: F401
from .norm import batch_norm  # noqa: F401
from .dropout import dropout  # noqa: F401
from .conv import conv2d  # noqa: F401
from .conv import conv1d, conv_transpose2d  # noqa: F401
from .pool import avg_pool2d, max_pool2d  # noqa: F401
from .sync_norm import sync_batch_norm  # noqa: F401
from .pool import adaptive_avg_pool2d, adaptive_max_pool2d, max_unpool2d  # noqa: F401
from .interpolate import interpolate  # noqa: F401
from .activation import elu, gelu, hard_sigmoid, hard_swish, silu, softplus  # noqa: F401
from .norm import group_norm, layer_norm  # noqa: F401
