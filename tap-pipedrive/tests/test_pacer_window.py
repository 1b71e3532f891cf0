"""The pacer's own window: requests from several threads take distinct places in it."""

from __future__ import annotations

import threading

import pytest
from tap_pipedrive.rate_limit import WINDOW_MARGIN_SECONDS, WINDOW_SECONDS, RequestPacer

HEADERS = {"x-ratelimit-limit": "4", "x-ratelimit-remaining": "3", "x-ratelimit-reset": "2"}
SPAN = WINDOW_SECONDS + WINDOW_MARGIN_SECONDS


def test_requests_wait_for_a_place_one_below_the_limit_learned_from_the_headers() -> None:
    slept: list[float] = []
    pacer = RequestPacer(clock=lambda: 10.0, sleep=slept.append)
    pacer.wait_for_slot()  # the limit is not known yet: it goes
    pacer.observe(HEADERS)  # limit 4: three requests per window
    pacer.wait_for_slot()
    pacer.wait_for_slot()
    assert slept == []
    pacer.wait_for_slot()  # the fourth waits for the first to leave the window
    pacer.wait_for_slot()
    assert slept == [pytest.approx(SPAN), pytest.approx(SPAN)]


def test_threads_take_distinct_places_in_the_window() -> None:
    delays: list[float] = []
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            delays.append(seconds)

    pacer = RequestPacer(clock=lambda: 0.0, sleep=sleep)
    pacer.observe(HEADERS)
    threads = [threading.Thread(target=pacer.wait_for_slot) for _ in range(7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # three go at once, three one window later, one two windows later
    assert sorted(delays) == [pytest.approx(d) for d in [SPAN] * 3 + [2 * SPAN]]


def test_a_request_counts_from_its_answer_when_the_caller_gives_its_place() -> None:
    now = [0.0]
    slept: list[float] = []
    pacer = RequestPacer(clock=lambda: now[0], sleep=slept.append)
    pacer.observe(HEADERS)
    places = [pacer.wait_for_slot() for _ in range(3)]  # all three let go at 0
    now[0] = 0.5
    for place in places:  # answered at 0.5: Pipedrive may have counted them as late as that
        pacer.observe(HEADERS, place)
    pacer.wait_for_slot()
    assert slept == [pytest.approx(SPAN)]  # at 0.5 + SPAN, not at 0 + SPAN
