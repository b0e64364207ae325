"""The training schedule: the learning-rate plan and its fitting to a time budget."""

import pytest

from lab.training import StepPlan


def test_plan_warms_up_linearly_then_decays_to_zero() -> None:
    plan = StepPlan(total=100, warmup=10, ceiling=100)
    assert plan.learning_rate_factor(0) == 0.0
    assert plan.learning_rate_factor(5) == pytest.approx(0.5)
    assert plan.learning_rate_factor(10) == pytest.approx(1.0)
    assert plan.learning_rate_factor(55) == pytest.approx(0.5)
    assert plan.learning_rate_factor(100) == 0.0
    assert plan.learning_rate_factor(120) == 0.0


def test_fit_shrinks_the_schedule_to_the_steps_that_fit_in_the_time_left() -> None:
    plan = StepPlan(total=10_000, warmup=1_000, ceiling=10_000)
    plan.fit(step=50, steps_per_second=2.0, seconds_left=100.0)
    assert 50 < plan.total < 250
    assert plan.warmup <= plan.total // 10
    assert plan.learning_rate_factor(plan.total) == 0.0


def test_fit_can_grow_again_but_never_past_the_planned_steps() -> None:
    plan = StepPlan(total=1_000, warmup=100, ceiling=1_000)
    plan.fit(step=50, steps_per_second=1.0, seconds_left=100.0)
    assert plan.total < 200
    plan.fit(step=300, steps_per_second=100.0, seconds_left=1_000.0)
    assert plan.total == 1_000


def test_fit_with_no_time_left_ends_at_the_next_step() -> None:
    plan = StepPlan(total=1_000, warmup=100, ceiling=1_000)
    plan.fit(step=400, steps_per_second=10.0, seconds_left=-5.0)
    assert plan.total == 401
