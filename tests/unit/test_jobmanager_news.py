"""The news a JobManager's waits wake on: news announced while a waiter looks (after it
cleared its event, before it waits) ends its wait at once, where it used to be missed
until the wait's timeout, between every two stages of a job; news on topics it does not
watch leaves it waiting (a burst of jobs used to wake every job's wait at each heartbeat)."""

from __future__ import annotations

import threading
import time

from sabot_lab.runtime.jobmanager.news import News


def test_news_announced_while_the_waiter_looks_ends_its_wait_at_once() -> None:
    news = News()
    with news.watching(["grpc://agent-a", "job-1"]) as came:
        came.clear()
        announcer = threading.Thread(target=news.announce, args=("grpc://agent-a",))
        announcer.start()  # (a heartbeat, while it looks)
        announcer.join()
        began = time.monotonic()
        assert came.wait(timeout=30.0)
        assert time.monotonic() - began < 5.0  # not the timeout


def test_a_waiter_wakes_on_its_topics_only_and_stops_watching_after() -> None:
    news = News()
    with news.watching(["job-1"]) as came:
        news.announce("job-2", "grpc://agent-b")
        assert not came.wait(timeout=0.01)
        woke: list[bool] = []
        waiter = threading.Thread(target=lambda: woke.append(came.wait(timeout=30.0)))
        waiter.start()
        news.announce("job-1")
        waiter.join(timeout=30.0)
        assert woke == [True]
    came.clear()
    news.announce("job-1")  # after the block: no longer watched
    assert not came.is_set()
    assert news._watchers == {}  # nothing kept for topics no one watches
