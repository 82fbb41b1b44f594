"""Functional losses (``tg.losses``): each is one fused op on the tape (see ``tapegraph.ops.loss`` for the
conventions: ``reduction=``, float16 computed in float32, input checks). Keras's short names are aliases."""
from .ops.loss import (EPSILON, binary_crossentropy, categorical_crossentropy, huber, kl_divergence,  # noqa: F401
                       kld, mae, mean_absolute_error, mean_squared_error, mse, sparse_categorical_crossentropy)

__all__ = ["mean_squared_error", "mse", "mean_absolute_error", "mae", "huber", "kl_divergence", "kld",
           "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy", "EPSILON"]

_OBJECTS = ("Loss", "SparseCategoricalCrossentropy", "CategoricalCrossentropy", "BinaryCrossentropy",
            "MeanSquaredError", "MeanAbsoluteError")


def __getattr__(name):
    """Keras's loss objects (``tg.losses.SparseCategoricalCrossentropy(from_logits=True)``) live in
    ``tapegraph.nn.loss_objects``; imported on first use, since nn imports this module."""
    if name in _OBJECTS:
        from .nn import loss_objects
        return getattr(loss_objects, name)
    raise AttributeError(f"module 'tapegraph.losses' has no attribute {name!r}")
