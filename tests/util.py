import time


def wait_until(cond, timeout: float = 30.0, interval: float = 0.02, what: str = "condition"):
    """Poll ``cond`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
