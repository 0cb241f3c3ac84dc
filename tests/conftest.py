"""pytest settings shared by every test file.

The `slow` marker: a test that starts several training processes (over 10 s of CPU), which `make test` leaves to
`make test-slow`. Nothing is dropped: every test runs in one of the two (`make test` runs `pytest -m "not slow"`,
`make test-slow` runs `pytest -m slow`)."""


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: starts several training processes; make test-slow runs it, make test not')
