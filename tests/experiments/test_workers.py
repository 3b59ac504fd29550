"""workers.stops_deferred: a Ctrl-C or SIGTERM that comes while a sweep starts a worker is held
back until the block (start the worker, record it) is over, then raised; nothing else changes."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from mtl_lib.experiments import workers


class _Stopped(Exception):
    pass


@pytest.fixture
def handled_stops():
    """SIGINT and SIGTERM handled as in a terminal's foreground sweep, whatever this test run
    inherited (a background job of a script gets SIGINT ignored); restored afterwards."""

    def sigterm(signum, frame):
        raise _Stopped("SIGTERM")

    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
        signal.SIGTERM: signal.signal(signal.SIGTERM, sigterm),
    }
    yield sigterm
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def _sigint_blocked() -> bool:
    return signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, set())


@pytest.mark.parametrize(("signum", "raised"), [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, _Stopped)])
def test_a_stop_inside_the_block_is_raised_when_it_ends(handled_stops, signum, raised):
    finished = False
    with pytest.raises(raised), workers.stops_deferred():
        signal.raise_signal(signum)
        time.sleep(0.05)
        finished = True
    assert finished
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is handled_stops
    assert not _sigint_blocked()


def test_a_ctrl_c_taken_by_another_thread_waits_too(handled_stops):
    """The case blocking alone missed: with SIGINT blocked here the kernel gives it to another
    thread (a sweep has its claim heartbeat), and Python runs the handler in this thread at its
    next bytecode, inside the block. Fails on a block that only masks SIGINT."""
    idle = threading.Event()
    other = threading.Thread(target=idle.wait, daemon=True)
    other.start()
    finished = False
    try:
        with pytest.raises(KeyboardInterrupt), workers.stops_deferred():
            assert _sigint_blocked()
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)  # the handler runs when the sleep ends
            finished = True
    finally:
        idle.set()
        other.join()
    assert finished


def test_each_stop_once_and_nothing_without_one(handled_stops):
    with pytest.raises(KeyboardInterrupt), workers.stops_deferred():
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)
    with workers.stops_deferred():  # nothing held back: nothing raised
        time.sleep(0.01)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ignored_ctrl_c_stays_ignored(handled_stops):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a background job's, as its shell asked
    with workers.stops_deferred():
        signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
