import pytest


@pytest.fixture(autouse=True)
def _evening(clinic_evening):
    """Charts are signed once their visit has begun: these tests run at 18:00."""
    return clinic_evening
