"""The news a JobManager's waits wake on: news announced while a waiter looks (between
reading the count and waiting) ends its wait at once; it used to be missed until the
wait's timeout, between every two stages of a job."""

from __future__ import annotations

import threading
import time

from sabot_lab.runtime.jobmanager.news import News


def test_news_announced_while_the_waiter_looks_ends_its_wait_at_once() -> None:
    news = News()
    seen = news.seen()
    announcer = threading.Thread(target=news.announce)  # (a heartbeat, while it looks)
    announcer.start()
    announcer.join()
    began = time.monotonic()
    assert news.wait(seen, timeout=30.0)
    assert time.monotonic() - began < 5.0  # not the timeout


def test_a_waiter_wakes_on_news_from_another_thread_and_times_out_without() -> None:
    news = News()
    assert not news.wait(news.seen(), timeout=0.01)
    seen = news.seen()
    woke: list[bool] = []
    waiter = threading.Thread(target=lambda: woke.append(news.wait(seen, timeout=30.0)))
    waiter.start()
    news.announce()
    waiter.join(timeout=30.0)
    assert woke == [True]
