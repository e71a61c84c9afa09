"""Settings chosen from the data size: small sets get enough steps, large ones fewer epochs, user values win."""

import pytest

from textfit.training.defaults import FEW_SHOT_MAX_PER_LABEL, MIN_STEPS, choose_settings, validation_sample_size


def test_a_small_set_gets_small_batches_and_enough_steps():
    per_label = FEW_SHOT_MAX_PER_LABEL + 1  # two labels, just above the few-shot threshold
    settings = choose_settings(2 * per_label, task="single_label", examples_per_label=per_label)
    assert not settings.few_shot and settings.validation_split == 0.1
    num_train = round(2 * per_label * 0.9)
    assert settings.batch_size == 8
    steps = settings.epochs * -(-num_train // settings.batch_size)
    assert steps >= MIN_STEPS and settings.epochs > 3
    assert "optimizer steps" in settings.reasons["epochs"] and "batch_size" in settings.reasons
    # Six validation examples cannot pick an epoch: the last step's weights are kept, and the log says why.
    assert settings.keep_best is False and "too few" in settings.reasons["keep_best"]


def test_medium_and_large_sets():
    medium = choose_settings(5000, task="single_label", examples_per_label=2500)
    assert (medium.batch_size, medium.epochs, medium.keep_best, medium.few_shot) == (32, 3, True, False)
    assert medium.reasons == {}  # the old defaults: nothing to say
    assert choose_settings(1000, task="single_label", examples_per_label=500).batch_size == 16
    assert choose_settings(60_000, task="single_label", examples_per_label=30_000).epochs == 2
    assert choose_settings(300_000, task="multi_label", examples_per_label=None).epochs == 1


def test_few_shot_below_the_threshold_for_single_label_only():
    few = choose_settings(3 * FEW_SHOT_MAX_PER_LABEL, task="single_label", examples_per_label=FEW_SHOT_MAX_PER_LABEL)
    assert few.few_shot and (few.epochs, few.batch_size, few.learning_rate, few.validation_split) == (1, 16, 2e-5, 0.0)
    assert "few_shot" in few.reasons and "validation_split" in few.reasons
    above = choose_settings(3 * (FEW_SHOT_MAX_PER_LABEL + 1), task="single_label", examples_per_label=FEW_SHOT_MAX_PER_LABEL + 1)
    assert not above.few_shot
    assert not choose_settings(20, task="multi_label", examples_per_label=None).few_shot
    assert not choose_settings(20, task="regression", examples_per_label=None).few_shot


@pytest.mark.parametrize("few_shot", ["on", "off"])
def test_what_the_user_sets_wins(few_shot):
    settings = choose_settings(40, task="single_label", examples_per_label=4, epochs=7, batch_size=32, learning_rate=1e-4,
                               warmup_fraction=0.0, validation_split=0.2, few_shot=few_shot, keep_best=True)
    assert (settings.epochs, settings.batch_size, settings.learning_rate, settings.warmup_fraction, settings.validation_split,
            settings.keep_best) == (7, 32, 1e-4, 0.0, 0.2, True)
    assert settings.few_shot == (few_shot == "on")
    assert not {"epochs", "batch_size", "validation_split", "keep_best"} & set(settings.reasons)


def test_a_validation_file_counts_for_keep_best_and_needs_no_split():
    settings = choose_settings(64, task="single_label", examples_per_label=32, has_validation_file=True,
                               num_validation_file_examples=500)
    assert settings.validation_split == 0.0 and settings.keep_best is True


def test_validation_is_sampled_only_when_it_would_dominate():
    assert validation_sample_size(100, 900) is None  # the usual 10 % split
    assert validation_sample_size(2000, 64) == 200  # a big validation file for a tiny training set
    assert validation_sample_size(5000, 4000) == 3000  # three quarters of the training set


def test_fine_tuning_settings_from_the_user_mean_fine_tuning():
    assert choose_settings(24, task="single_label", examples_per_label=8).few_shot
    assert not choose_settings(24, task="single_label", examples_per_label=8, epochs=5).few_shot
    assert not choose_settings(24, task="single_label", examples_per_label=8, learning_rate=1e-4).few_shot
    assert choose_settings(24, task="single_label", examples_per_label=8, epochs=5, few_shot="on").few_shot


def test_early_stopping_keeps_the_best_whatever_the_validation_size():
    assert choose_settings(64, task="single_label", examples_per_label=32, early_stopping=True).keep_best is True
