"""Functional losses (``tg.losses``): each is one fused op on the tape, mean over the batch."""
from .ops.loss import (EPSILON, binary_crossentropy, categorical_crossentropy, mean_squared_error,  # noqa: F401
                       mse)

__all__ = ["mean_squared_error", "mse", "binary_crossentropy", "categorical_crossentropy", "EPSILON"]
