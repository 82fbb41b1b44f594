"""``SyncBatchNorm``: BatchNorm whose training statistics cover the global batch of every MPI rank."""
from __future__ import annotations

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

    _train_op = staticmethod(sync_batch_norm)

    @classmethod
    def convert(cls, module):
        """Make every BatchNorm in ``module`` (itself included) a SyncBatchNorm, in place; returns ``module``."""
        for m in module.modules():
            if type(m) is BatchNorm:
                object.__setattr__(m, "__class__", cls)   # Module.__setattr__ would register it
        return module


convert_sync_batchnorm = SyncBatchNorm.convert
