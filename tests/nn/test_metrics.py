"""Streaming metrics: refusals that name the metric."""
import numpy as np
import pytest

from tapegraph.nn.metrics import TopKAccuracy


@pytest.mark.parametrize("labels", [[0, 1, 5, 2], [0, 1, -1, 2]])         # -1 used to wrap to the last class
def test_top_k_refuses_labels_outside_the_classes(labels):
    m = TopKAccuracy(2)
    with pytest.raises(ValueError, match=r"^top_k_accuracy: labels must lie in \[0, 3\) for outputs \(4, 3\)"):
        m.update(np.random.default_rng(0).random((4, 3)), np.array(labels))
    assert m.count == 0


def test_top_k_counts_ties_for_the_true_class():
    m = TopKAccuracy(1)
    m.update(np.array([[0.5, 0.5, 0.0], [0.1, 0.7, 0.2]]), np.array([1, 2]))
    assert m.result() == 0.5
