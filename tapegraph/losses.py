"""Functional losses (``tg.losses``): each is one fused op on the tape (see ``tapegraph.ops.loss`` for the
conventions: ``reduction=``, float16 computed in float32, input checks). Keras's short names are aliases."""
from .ops.loss import (EPSILON, binary_crossentropy, categorical_crossentropy, huber, kl_divergence,  # noqa: F401
                       kld, mae, mean_absolute_error, mean_squared_error, mse, sparse_categorical_crossentropy)

__all__ = ["mean_squared_error", "mse", "mean_absolute_error", "mae", "huber", "kl_divergence", "kld",
           "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy", "EPSILON"]
