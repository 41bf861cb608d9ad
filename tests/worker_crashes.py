"""A fused-kernel test whose pytest-xdist worker crashed runs once more on a fresh worker.

XLA's CPU runtime has crashed a worker (a segmentation fault, in pure JAX code: the
Pallas interpreter's program for a Triton-product parity test) in a few runs of
`pytest -n 2 tests/kernels` under JAX, and never when that test ran again. A test under
`tests/kernels/` whose worker dies is therefore scheduled once more; it is reported as
`RERUN` with the crash in the summary, and a second crash, or any failure of the rerun,
fails it. Other tests, and ordinary failures, are never rerun.
"""

import pytest

RERUN_AFTER_A_CRASH = "tests/kernels/"

_crashed = []  # the node ids rerun after a crash, in the controller process


@pytest.hookimpl(optionalhook=True)
def pytest_handlecrashitem(crashitem, report, sched):
    """pytest-xdist's hook, called in the controller when a worker dies running
    `crashitem`."""
    if crashitem.startswith(RERUN_AFTER_A_CRASH) and crashitem not in _crashed:
        _crashed.append(crashitem)
        sched.mark_test_pending(crashitem)
        report.outcome = "rerun"
        return True
    return None


def pytest_report_teststatus(report):
    if report.outcome == "rerun":
        return "rerun", "R", ("RERUN", {"yellow": True})
    return None


def pytest_terminal_summary(terminalreporter):
    reports = terminalreporter.stats.get("rerun", [])
    if reports:
        terminalreporter.write_sep("=", "rerun after a worker crash", yellow=True)
        for report in reports:
            terminalreporter.write_line(str(report.longrepr))
