"""Layers, models and the training loop."""
from .module import Module, ModuleList, Parameter  # noqa: F401
from .layers import (AvgPool2D, BatchNorm, Conv2D, Dense, Dropout, Flatten, Layer, LeakyReLU,  # noqa: F401
                     MaxPool2D, ReLU, Sequential, Sigmoid, Softmax, Tanh)
from .layers import Conv1D, Conv2DTranspose, DepthwiseConv2D  # noqa: F401
from .serialization import load_weights, read_weights, save_weights  # noqa: F401
from .training import Callback, History, evaluate, fit, predict  # noqa: F401
from . import init  # noqa: F401
