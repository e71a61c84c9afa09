"""Warmup then linear decay."""

import pytest

from textfit import WarmupThenDecay, default_optimizer


def test_schedule_rises_then_decays_to_zero():
    schedule = WarmupThenDecay(1e-3, warmup_fraction=0.1)
    schedule.plan(start_step=0, total_steps=100)
    assert float(schedule(0)) == pytest.approx(0.0)
    assert float(schedule(5)) == pytest.approx(5e-4)
    assert float(schedule(10)) == pytest.approx(1e-3)
    assert float(schedule(55)) == pytest.approx(5e-4)
    assert float(schedule(100)) == pytest.approx(0.0)
    assert float(schedule(150)) == pytest.approx(0.0)


def test_schedule_counts_from_the_planned_start_step():
    schedule = WarmupThenDecay(1e-3, warmup_fraction=0.0)
    schedule.plan(start_step=40, total_steps=10)
    assert float(schedule(40)) == pytest.approx(1e-3)
    assert float(schedule(50)) == pytest.approx(0.0)


def test_schedule_rejects_bad_values_and_use_before_plan():
    with pytest.raises(ValueError, match=r"warmup_fraction must be in \[0, 1\]. Received: warmup_fraction=1.5"):
        WarmupThenDecay(1e-3, warmup_fraction=1.5)
    with pytest.raises(ValueError, match=r"learning_rate must be > 0"):
        default_optimizer(learning_rate=0)
    with pytest.raises(RuntimeError, match=r"plan\(\) must run before training"):
        WarmupThenDecay(1e-3)(0)
