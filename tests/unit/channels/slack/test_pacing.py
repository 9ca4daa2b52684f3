"""The per-workspace budget: bursts, then the sustained rate, per team."""

from __future__ import annotations

from channels.slack.pacing import Budget


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_goes_out_at_once_then_calls_are_spaced_at_the_rate() -> None:
    clock = Clock()
    budget = Budget(60, burst=3, clock=clock)  # one a second

    for _ in range(3):
        assert budget.delay("T1") == 0
        budget.take("T1")

    assert budget.delay("T1") == 1.0
    clock.now += 0.25
    assert budget.delay("T1") == 0.75
    clock.now += 0.75
    assert budget.delay("T1") == 0


def test_workspaces_have_budgets_of_their_own() -> None:
    budget = Budget(60, burst=1, clock=Clock())

    budget.take("T1")

    assert budget.delay("T1") == 1.0
    assert budget.delay("T2") == 0


def test_waiting_calls_queue_up_in_order() -> None:
    clock = Clock()
    budget = Budget(120, burst=1, clock=clock)  # two a second

    budget.take("T1")
    budget.take("T1")  # reserved while the first slot was still taken: debt

    assert budget.delay("T1") == 1.0  # the third call waits for two refills


def test_the_default_burst_is_a_tenth_of_a_minute() -> None:
    budget = Budget(50, clock=Clock())

    for _ in range(5):
        budget.take("T1")

    assert budget.delay("T1") > 0
