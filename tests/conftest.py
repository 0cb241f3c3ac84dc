"""pytest settings shared by every test file.

The `slow` marker: a test over about 20 s of CPU that `make test` leaves to `make test-slow`; nothing is dropped,
every test still runs in one of the two (`make test` runs `pytest -m "not slow"`, `make test-slow` runs `-m slow`)."""


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: over about 20 s of CPU; `make test-slow` runs it, `make test` does not')
