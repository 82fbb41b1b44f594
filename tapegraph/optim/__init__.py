"""Optimizers and learning-rate schedules."""
from .sgd import SGD, Optimizer  # noqa: F401
from .schedules import CosineAnnealingLR, ExponentialLR, LRScheduler, StepLR  # noqa: F401
