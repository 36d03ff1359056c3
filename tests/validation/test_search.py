"""Search space, grid, samplers, study naming, storage URLs and prediction flattening."""
from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from green_estimate.errors import UsageError
from green_estimate.validation.config import ValidationConfig, preset_config
from green_estimate.validation.search import (
    SearchSpace,
    architecture,
    grid_values,
    make_sampler,
    prediction_attrs,
)

ALL = ("simple_cnn", "dense_poly", "dense_linear")


def test_grid_values_use_the_studys_formula():
    # low + i (high - low) / 5 for i = 0..4: the upper end is never a grid point (beta = 1 would break Adam).
    assert grid_values(1e-5, 0.1) == pytest.approx([1e-5, 0.020008, 0.040006, 0.060004, 0.080002])
    assert grid_values(0.1, 0.999) == pytest.approx([0.1, 0.2798, 0.4596, 0.6394, 0.8192])
    assert grid_values(1e-5, 0.1, log=True) == pytest.approx([1e-5, 10 ** -4.2, 10 ** -3.4, 10 ** -2.6, 10 ** -1.8])


def test_grid_size_is_five_per_float_times_every_knob_value():
    space = SearchSpace(families=ALL, max_conv_blocks=4)
    # 5^3 floats x 3 families x 4 conv blocks x 2 relu x 5 linear layer counts.
    assert space.grid_size() == 125 * 3 * 4 * 2 * 5
    five = SearchSpace(families=ALL, max_conv_blocks=3, five_params=True)
    assert five.grid_size() == 5 ** 5 * 3 * 3 * 2 * 5
    dense_only = SearchSpace(families=("dense_poly",))
    assert set(dense_only.grid()) == {"lr", "beta1", "beta2", "family", "linear_layers"}


def test_every_trial_suggests_the_whole_space():
    space = SearchSpace(families=ALL, five_params=True)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    params = space.suggest(trial)
    assert set(params) == {"lr", "beta1", "beta2", "eps", "weight_decay", "family", "conv_blocks", "relu", "linear_layers"}
    assert 1e-5 <= params["lr"] <= 0.1 and 0.1 <= params["beta1"] <= 0.999 and 0.8 <= params["beta2"] <= 0.999
    assert 1e-9 <= params["eps"] <= 1e-7 and 0 <= params["weight_decay"] <= 0.1


def test_grid_sampler_draws_distinct_grid_points():
    space = SearchSpace(families=ALL, max_conv_blocks=4)
    study = optuna.create_study(sampler=make_sampler("grid", space, seed=0, trials=10), direction="maximize")
    study.optimize(lambda t: (space.suggest(t), 0.0)[1], n_trials=10)
    grid = space.grid()
    points = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(set(points)) == 10
    for t in study.trials:
        for name, value in t.params.items():
            assert value in grid[name]


def test_samplers_per_strategy():
    space = SearchSpace(families=ALL)
    assert isinstance(make_sampler("random", space, seed=0, trials=8), optuna.samplers.RandomSampler)
    gp = make_sampler("bayes", space, seed=0, trials=64)
    assert isinstance(gp, optuna.samplers.GPSampler)
    assert isinstance(make_sampler("tpe", space, seed=0, trials=8), optuna.samplers.TPESampler)
    with pytest.raises(UsageError):
        make_sampler("annealing", space, seed=0, trials=8)


def test_architecture_drops_knobs_a_family_lacks():
    p = {"family": "dense_linear", "conv_blocks": 3, "relu": True, "linear_layers": 5}
    assert architecture(p) == {"family": "dense_linear", "conv_blocks": 0, "linear_layers": 5, "relu": False}
    p["family"] = "simple_cnn"
    assert architecture(p) == {"family": "simple_cnn", "conv_blocks": 3, "linear_layers": 5, "relu": True}


def test_prediction_attrs_flatten_the_schema():
    pred = {"per_step": {"energy_j": 0.5, "energy_j_interval": [0.4, 0.7], "time_s": 0.01, "time_s_interval": [0.008, 0.013]},
            "total": {"energy_j": 50.0, "energy_j_interval": [40.0, 70.0], "time_s": 1.0},
            "by_class": {"conv": {"energy_j_per_step": 0.3, "share": 0.6}},
            "profile": {"provenance": "measured", "name": "p"}}
    a = prediction_attrs(pred, steps=100)
    assert (a["pred_energy_j"], a["pred_energy_j_low"], a["pred_energy_j_high"]) == (50.0, 40.0, 70.0)
    # No total time interval in the schema: steps x the per-step interval.
    assert (a["pred_time_s_low"], a["pred_time_s_high"]) == pytest.approx((0.8, 1.3))
    assert a["pred_by_class_j_per_step"] == {"conv": 0.3}
    assert a["profile_provenance"] == "measured"
    with pytest.raises(ValueError, match="prediction@1"):
        prediction_attrs({"total": {}}, steps=1)


def test_study_names_separate_incomparable_settings(tmp_path):
    a = preset_config("quick", tmp_path)
    assert a.study_name("grid") == preset_config("quick", tmp_path, trials=99, seed=5).study_name("grid")
    assert a.study_name("grid") != preset_config("quick", tmp_path, epochs=3).study_name("grid")
    assert a.study_name("grid") != a.study_name("random")
    # another device, or another profile pricing the trials, starts new studies
    assert a.study_name("grid") != preset_config("quick", tmp_path, device="cuda:0").study_name("grid")
    assert a.study_name("grid") != preset_config("quick", tmp_path, predictor="gpu-h100@0.9").study_name("grid")
    assert a.study_name("grid").startswith("digits-e10-b128-3p-") and a.study_name("grid").endswith("-grid")


def test_storage_urls(tmp_path):
    assert ValidationConfig(out_dir=tmp_path).storage_url() == f"sqlite:///{tmp_path.resolve()}/validation.sqlite3"
    assert ValidationConfig(out_dir=tmp_path, storage="sqlite:///x.db").storage_url() == "sqlite:///x.db"
    assert ValidationConfig(out_dir=tmp_path, storage=str(tmp_path / "s.db")).storage_url() == f"sqlite:///{(tmp_path / 's.db').resolve()}"


def test_presets_and_overrides(tmp_path):
    q = preset_config("quick", tmp_path, epochs=None, batch_size=64)
    assert (q.trials, q.epochs, q.batch_size, q.preset) == (24, 10, 64, "quick")
    f = preset_config("full", Path("x"))
    assert (f.trials, f.epochs, f.batch_size) == (64, 25, 512)
    for bad in ({"strategies": ("grid", "hill")}, {"families": ("resnet",)}, {"data": "mnist"}, {"epochs": 0},
                {"strategies": ("grid", "grid")}):
        with pytest.raises(UsageError):
            preset_config("quick", tmp_path, **bad)
    with pytest.raises(UsageError):
        preset_config("medium", tmp_path)
