"""Test-only: moves the wall clock of a service process started by a test, so that date-sensitive
behaviour (a statutory clock accepted on 6 December, running into a year without an approved
calendar) is tested on the date it is about, whatever day the tests run.

Python imports ``sitecustomize`` at start-up from ``sys.path``; this directory is on a process's
path only when a test puts it in ``PYTHONPATH`` (it is not a package, not in the image, and
time-machine is a development dependency). ``LVRONG_TEST_CLOCK_SHIFT_SECONDS`` is added to the real
time of each process and the clock keeps ticking, so every process of a suite started with the same
shift shares one moved clock (tokens issued by the gateway are valid in the services). Monotonic
time (timeouts, sleeps) is left alone.
"""
import os

_shift = os.environ.get("LVRONG_TEST_CLOCK_SHIFT_SECONDS")
if _shift:
    import time

    import time_machine

    time_machine.travel(time.time() + float(_shift), tick=True).start()
