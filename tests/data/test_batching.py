"""batches() and DataLoader: coverage, drop_last, pairing, determinism, validation."""
import numpy as np
import pytest

import tapegraph as tg


def _data(n=23):
    y = np.arange(n)
    x = (y * 10).astype(np.float32).reshape(n, 1) + np.zeros((n, 3), np.float32)
    return x, y


def _collect(it):
    xs, ys = zip(*it)
    return list(xs), list(ys)


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("n,bs", [(23, 5), (20, 5), (3, 8), (1, 1)])
def test_batches_cover_every_sample_once(shuffle, n, bs):
    x, y = _data(n)
    xs, ys = _collect(tg.data.batches(x, y, bs, shuffle=shuffle, seed=1))
    assert [len(b) for b in ys] == [min(bs, n - i) for i in range(0, n, bs)]
    assert sorted(np.concatenate(ys).tolist()) == list(range(n))
    for xb, yb in zip(xs, ys):
        np.testing.assert_array_equal(xb[:, 0], yb * 10)  # pairs stay together
        assert xb.shape[1:] == (3,)
    if not shuffle:
        assert np.concatenate(ys).tolist() == list(range(n))


def test_drop_last():
    x, y = _data(23)
    _, ys = _collect(tg.data.batches(x, y, 5, seed=0, drop_last=True))
    assert [len(b) for b in ys] == [5] * 4 and len(set(np.concatenate(ys).tolist())) == 20
    assert list(tg.data.batches(x[:3], y[:3], 5, drop_last=True)) == []


def test_seeded_shuffle_is_deterministic_and_shuffles():
    x, y = _data(50)
    a = np.concatenate(_collect(tg.data.batches(x, y, 7, seed=3))[1])
    b = np.concatenate(_collect(tg.data.batches(x, y, 7, seed=3))[1])
    c = np.concatenate(_collect(tg.data.batches(x, y, 7, seed=4))[1])
    np.testing.assert_array_equal(a, b)
    assert a.tolist() != c.tolist() and a.tolist() != list(range(50))
    tg.manual_seed(11)
    d = np.concatenate(_collect(tg.data.batches(x, y, 7))[1])
    tg.manual_seed(11)
    e = np.concatenate(_collect(tg.data.batches(x, y, 7))[1])
    np.testing.assert_array_equal(d, e)


@pytest.mark.parametrize("who", ["batches", "DataLoader"])
def test_validation_happens_at_the_call(who):
    f = getattr(tg.data, who)
    x, y = _data(10)
    with pytest.raises(ValueError, match=f"{who}: batch_size must be positive, got 0"):
        f(x, y, 0)
    with pytest.raises(ValueError, match=f"{who}: batch_size must be positive, got -2"):
        f(x, y, -2)
    with pytest.raises(TypeError, match=f"{who}: batch_size must be an int, got float"):
        f(x, y, 2.5)
    with pytest.raises(ValueError, match=rf"{who}: x has 10 samples \(shape \(10, 3\)\) but y has 9 \(shape \(9,\)\)"):
        f(x, y[:9], 4)
    with pytest.raises(ValueError, match=f"{who}: x and y need a leading sample axis"):
        f(np.float32(1), y, 4)


def test_dataloader_epochs():
    x, y = _data(23)
    loader = tg.data.DataLoader(x, y, 5, seed=7)
    assert len(loader) == 5 and len(tg.data.DataLoader(x, y, 5, drop_last=True)) == 4
    epochs = [np.concatenate(_collect(loader)[1]) for _ in range(3)]
    for e in epochs:
        assert sorted(e.tolist()) == list(range(23))
    assert epochs[0].tolist() != epochs[1].tolist()  # reshuffled every epoch
    again = tg.data.DataLoader(x, y, 5, seed=7)
    for e in epochs:  # the same seed replays the same sequence of epochs
        np.testing.assert_array_equal(np.concatenate(_collect(again)[1]), e)
    assert sum(1 for _ in loader) == len(loader)
    ordered = tg.data.DataLoader(x, y, 5, shuffle=False, drop_last=True)
    assert np.concatenate(_collect(ordered)[1]).tolist() == list(range(20))


def test_dataloader_transform():
    x = np.arange(2 * 1 * 2 * 2, dtype=np.uint8).reshape(2, 1, 2, 2)
    y = np.array([0, 1])
    loader = tg.data.DataLoader(x, y, 2, shuffle=False, transform=tg.data.to_float)
    ((xb, yb),) = list(loader)
    assert xb.dtype == np.float32
    np.testing.assert_allclose(xb, x / 255.0, rtol=1e-6)
    with pytest.raises(TypeError, match="DataLoader: transform must be callable"):
        tg.data.DataLoader(x, y, 2, transform="to_float")
