from base.backoff import Backoff


def test_backoff_doubles_from_initial_up_to_the_cap() -> None:
    b = Backoff(initial=0.5, maximum=4.0)
    assert [b.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert b.delay(0) == 0.0
    assert b.delay(10_000) == 4.0


def test_a_long_healthy_run_resets_the_failure_count() -> None:
    b = Backoff(reset_after=60.0)
    assert b.failures_after(5, uptime=61.0) == 1
    assert b.failures_after(5, uptime=10.0) == 6
