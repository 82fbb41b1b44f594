"""Datasets as numpy arrays (MNIST, Fashion-MNIST, CIFAR-10/100), a small embedded MNIST sample, batching and
augmentation. Images are NCHW uint8 unless a float ``dtype`` is asked for; labels are int64."""
from .batching import DataLoader, batches
from .cifar import CIFAR10_CLASSES, UnsafePickleError, load_cifar10, load_cifar100
from .idx import read_idx
from .mnist import MNIST_MEAN, MNIST_STD, SAMPLE_INFO, load_fashion_mnist, load_mnist
from .transforms import Compose, random_crop, random_flip, standardize, to_float

__all__ = ["CIFAR10_CLASSES", "Compose", "DataLoader", "MNIST_MEAN", "MNIST_STD", "SAMPLE_INFO", "UnsafePickleError",
           "batches", "load_cifar10", "load_cifar100", "load_fashion_mnist", "load_mnist", "random_crop",
           "random_flip", "read_idx", "standardize", "to_float"]
