from service.retry import Backoff


def test_the_wait_doubles_up_to_the_cap_with_jitter_in_its_upper_half():
    backoff = Backoff(first=0.1, cap=0.5, draw=lambda: 1.0)
    waits = [backoff.delay() for _ in range(5)]
    assert waits == [0.1, 0.2, 0.4, 0.5, 0.5]
    low = Backoff(first=0.1, cap=0.5, draw=lambda: 0.0)
    assert [low.delay() for _ in range(3)] == [0.05, 0.1, 0.2]


def test_a_reset_starts_again_from_the_first_wait():
    backoff = Backoff(first=0.1, cap=1.0, draw=lambda: 1.0)
    backoff.delay()
    backoff.delay()
    backoff.reset()
    assert backoff.delay() == 0.1
