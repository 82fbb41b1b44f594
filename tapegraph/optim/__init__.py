"""Optimizers (PyTorch's update rules and parameter groups), gradient clipping and learning-rate schedules."""
from .optimizer import Optimizer, state_from_arrays, state_to_arrays  # noqa: F401
from .sgd import SGD  # noqa: F401
from .adam import Adam, AdamW  # noqa: F401
from .rmsprop import Adagrad, RMSprop  # noqa: F401
from .clip import clip_grad_norm, clip_grad_norm_, clip_grad_value, clip_grad_value_  # noqa: F401
from .schedules import (CosineAnnealingLR, ExponentialLR, LambdaLR, LinearLR, LinearWarmup, LRScheduler,  # noqa: F401
                        MultiStepLR, OneCycleLR, ReduceLROnPlateau, StepLR)

#: Lower-case names (Keras's and PyTorch's spellings) -> optimizer classes, for ``compile(optimizer="adam")``.
OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}
