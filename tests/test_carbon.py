"""Offline grid carbon intensity and CO2e arithmetic."""
from __future__ import annotations

import socket

import pytest

from green_estimate.carbon import (
    CarbonIntensity,
    co2e_g,
    dataset_info,
    find_region,
    grid_intensity_g_per_kwh,
    list_regions,
)
from green_estimate.errors import UsageError


def test_co2e_arithmetic():
    assert co2e_g(3.6e6, 400.0) == pytest.approx(400.0)            # 1 kWh x 400 g/kWh
    assert co2e_g(7.2e6, 56.0) == pytest.approx(112.0)             # 2 kWh x 56 g/kWh
    assert co2e_g(1.8e9, CarbonIntensity(481.0, "WORLD", "t", 2023)) == pytest.approx(500 * 481.0)  # 500 kWh
    assert co2e_g(0.0, 700.0) == 0.0


def test_neither_region_nor_number_means_no_intensity():
    assert grid_intensity_g_per_kwh() is None
    assert grid_intensity_g_per_kwh(region="  ") is None


@pytest.mark.parametrize("text", ["de", "DE", "De", " germany ", "GERMANY", "deutschland"])
def test_region_lookup_is_case_insensitive(text):
    ci = grid_intensity_g_per_kwh(region=text)
    assert ci is not None and ci.region == "DE" and ci.year == 2023 and "Ember" in ci.source


def test_aliases():
    assert find_region("uk").code == "GB"
    assert find_region("usa").code == "US"
    assert find_region("eu").code == "EU27"
    assert find_region("world").code == "WORLD"


def test_unknown_region_suggests_and_points_at_the_option():
    with pytest.raises(UsageError) as err:
        grid_intensity_g_per_kwh(region="Germny")
    msg = str(err.value)
    assert "DE (Germany)" in msg and "--grid-intensity" in msg
    with pytest.raises(UsageError, match="--grid-intensity"):
        grid_intensity_g_per_kwh(region="atlantis")


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_bad_intensity_is_a_usage_error(bad):
    with pytest.raises(UsageError):
        grid_intensity_g_per_kwh(grid_intensity=bad)


def test_user_number_wins_and_says_so():
    ci = grid_intensity_g_per_kwh(region="pl", grid_intensity=20.0)
    assert ci == CarbonIntensity(20.0, "PL", "user-supplied (--grid-intensity)", None)
    assert grid_intensity_g_per_kwh(grid_intensity=0).g_per_kwh == 0.0  # on-site renewables
    assert grid_intensity_g_per_kwh(region="Atlantis", grid_intensity=5).region == "Atlantis"


def test_table_covers_world_eu_and_twenty_countries_with_source_and_year():
    regions = list_regions()
    codes = [r.code for r in regions]
    assert len(codes) == len(set(codes))
    must = {"WORLD", "EU27", "US", "CN", "IN", "DE", "FR", "GB", "JP", "SE", "NO", "PL", "CA", "AU",
            "BR", "ZA", "KR", "NL", "ES", "IT", "CH", "IE"}
    assert must <= set(codes)
    for r in regions:
        assert r.source and r.year == 2023 and 0 < r.g_per_kwh < 1200, r.code
    owner: dict[str, str] = {}
    for r in regions:
        for label in (r.code, r.name, *r.aliases):
            assert owner.setdefault(label.lower(), r.code) == r.code, label  # one label, one region
    info = dataset_info()
    assert info["data_year"] == 2023 and "Ember" in info["title"]


def test_table_orders_grids_as_their_generation_mix_says():
    g = {r.code: r.g_per_kwh for r in list_regions()}
    # Hydro/nuclear grids below the world average, coal-heavy grids above it.
    for clean in ("NO", "SE", "FR", "CH", "BR"):
        assert g[clean] < 150 < g["WORLD"], clean
    for coal in ("IN", "PL", "ZA", "AU", "CN"):
        assert g[coal] > g["WORLD"], coal
    assert g["EU27"] < g["WORLD"]


def test_nothing_goes_online(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("carbon lookups must not open sockets")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert grid_intensity_g_per_kwh(region="fr").g_per_kwh == 56.0
    assert len(list_regions()) >= 22
