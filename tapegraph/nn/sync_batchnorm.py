"""``SyncBatchNorm``: BatchNorm whose training statistics cover the global batch of every MPI rank."""
from __future__ import annotations

import numpy as np

from ..ops.sync_norm import sync_batch_norm
from .layers import BatchNorm


class SyncBatchNorm(BatchNorm):
    """BatchNorm (same arguments, parameters and buffers) with batch statistics over all ranks of
    ``tapegraph.distributed``'s world: 2 ranks x batch 32 compute what 1 process x batch 64 computes, in outputs,
    gradients and running statistics (updated from the global mean and unbiased global variance). Eval mode uses
    the running statistics, no communication. Alone (one rank) it is BatchNorm. Every rank must run the same
    forward and backward passes (each training-mode call is a collective). ``SyncBatchNorm.convert(model)`` turns
    every BatchNorm of a model into one, in place, keeping its parameters and buffers.
    """

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        c = self.gamma.data.shape[0]
        if np.ndim(x) not in (2, 4) or np.shape(x)[1] != c:
            raise self._bad_input(x, f"(batch, {c}) or (batch, {c}, height, width)")
        stats = {}
        y = sync_batch_norm(x, self.gamma, self.beta, self.epsilon, batch_stats=stats)
        m, mom = stats["count"], self.momentum
        rm, rv = self.running_mean, self.running_var
        rm *= mom
        rm += (1 - mom) * stats["mean"]
        rv *= mom
        rv += ((1 - mom) * m / (m - 1)) * stats["var"]
        return y

    @classmethod
    def convert(cls, module):
        """Make every BatchNorm in ``module`` (itself included) a SyncBatchNorm, in place; returns ``module``."""
        for m in module.modules():
            if type(m) is BatchNorm:
                object.__setattr__(m, "__class__", cls)   # Module.__setattr__ would register it
        return module


convert_sync_batchnorm = SyncBatchNorm.convert
