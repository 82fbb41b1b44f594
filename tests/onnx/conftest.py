import pytest

import tapegraph as tg


@pytest.fixture(autouse=True)
def _seeded():
    """Layers initialise from the global generator: the same weights whatever ran before."""
    tg.manual_seed(0)
