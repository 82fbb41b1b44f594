"""Layers, models and the training loop."""
from .module import Module, ModuleList, Parameter  # noqa: F401
from .layers import (AvgPool2D, BatchNorm, Conv2D, Dense, Dropout, Flatten, Layer, LeakyReLU,  # noqa: F401
                     MaxPool2D, ReLU, Sequential, Sigmoid, Softmax, Tanh)
from .layers import Conv1D, Conv2DTranspose, DepthwiseConv2D  # noqa: F401
from .serialization import load_weights, read_weights, save_weights  # noqa: F401
from .training import Callback, History, evaluate, fit, predict  # noqa: F401
from . import init  # noqa: F401
from .sync_batchnorm import SyncBatchNorm  # noqa: F401
from .callbacks import (CSVLogger, EarlyStopping, LearningRateScheduler, ModelCheckpoint,  # noqa: F401
                        TerminateOnNaN)
from .metrics import Accuracy, Metric, TopKAccuracy  # noqa: F401
from .loss_objects import (BinaryCrossentropy, CategoricalCrossentropy, Loss, MeanAbsoluteError,  # noqa: F401
                           MeanSquaredError, SparseCategoricalCrossentropy)
from . import callbacks, metrics  # noqa: F401
from .layers import (ELU, GELU, GlobalAveragePooling2D, GlobalMaxPooling2D, GroupNormalization,  # noqa: F401
                     HardSigmoid, HardSwish, LayerNormalization, SiLU, Softplus, Swish, UpSampling2D, ZeroPadding2D)
