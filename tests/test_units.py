"""Energy and mass parsing: SI results, and every refusal a usage error that lists the units."""
from __future__ import annotations

import pytest

from green_estimate.errors import BudgetError, UsageError
from green_estimate.units import format_energy, format_mass, parse_energy_j, parse_mass_g


@pytest.mark.parametrize(
    ("text", "joules"),
    [
        ("2kWh", 2 * 1000 * 3600),
        ("2.5 kWh", 2.5 * 1000 * 3600),
        ("500 kJ", 500 * 1000),
        ("1e3J", 1000),
        (".5Wh", 0.5 * 3600),
        ("3 MJ", 3e6),
        ("1 GJ", 1e9),
        ("4 MWh", 4 * 1e6 * 3600),
        ("1 GWh", 1e9 * 3600),
        ("3 KWH", 3 * 1000 * 3600),  # case-insensitive apart from the milli 'm'
        ("3 kwh", 3 * 1000 * 3600),
        ("  7 j ", 7),
    ],
)
def test_parse_energy_j(text, joules):
    assert parse_energy_j(text) == pytest.approx(joules)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("lots", "is not an energy"),
        ("2", "has no unit"),
        ("0kWh", "must be a positive"),
        ("-1 kWh", "must be a positive"),
        ("1e400 J", "must be a positive, finite"),
        ("2 kW", "unknown unit 'kW'"),
        ("2 kWh extra", "is not an energy"),
    ],
)
def test_parse_energy_j_refuses(text, says):
    with pytest.raises(BudgetError) as info:
        parse_energy_j(text, what="--budget")
    message = str(info.value)
    assert says in message and "--budget" in message
    assert "kWh" in message  # the accepted units (or an example) are always named
    assert "\n" not in message


@pytest.mark.parametrize(("text", "write"), [("5 mWh", "MWh"), ("5mj", "MJ"), ("5 mJ", "MJ")])
def test_lowercase_m_is_milli_and_refused(text, write):
    with pytest.raises(BudgetError, match=f"milli; write '{write}'"):
        parse_energy_j(text)


def test_budget_errors_are_usage_errors_exit_2():
    assert issubclass(BudgetError, UsageError) and BudgetError.exit_code == 2


@pytest.mark.parametrize(
    ("text", "grams"),
    [("5kg", 5000), ("500 g", 500), ("1.2 t", 1.2e6), ("2 kgCO2e", 2000), ("3 KG", 3000), ("1 t CO2eq", 1e6)],
)
def test_parse_mass_g(text, grams):
    assert parse_mass_g(text) == pytest.approx(grams)


@pytest.mark.parametrize("text", ["3 lb", "500", "0g", "heavy"])
def test_parse_mass_g_refuses(text):
    with pytest.raises(BudgetError, match=r"g, kg, t|500g"):
        parse_mass_g(text, what="--co2-budget")


@pytest.mark.parametrize(
    ("joules", "text"),
    [(0.0, "0 J"), (512.0, "512 J"), (999.7, "1000 J"), (1500.0, "1.5 kJ"), (3600.0, "3.6 kJ"), (2.5e6, "2.5 MJ"),
     (7.2e6, "2 kWh"), (3.6e9, "1 MWh"), (5 * 3.6e12, "5 GWh"), (12_345 * 3.6e12, "12345 GWh")],
)
def test_format_energy(joules, text):
    assert format_energy(joules) == text


def test_format_mass():
    assert [format_mass(g) for g in (12.0, 1500.0, 2.5e6, 1234.5e6)] == ["12 g", "1.5 kg", "2.5 t", "1234 t"]


def test_format_energy_in_the_unit_of_another():
    assert format_energy(1.8e6, like=7.2e6) == "0.5 kWh"  # 1.8 MJ / 3.6 MJ per kWh


def test_si_is_the_one_formatter_of_tables_and_markdown():
    from green_estimate.cli.render import si as cli_si
    from green_estimate.units import si

    assert cli_si is si
    assert si(1.5e9, "FLOP") == "1.5 GFLOP"  # 1.5e9 / 1e9
    assert si(2e-5, "s") == "20 µs"  # 2e-5 / 1e-6
    assert si(3.21e15, "J") == "3.21 PJ"
    assert si(0.25, "s") == "250 ms"
    assert si(0, "J") == "0 J" and si(12.0) == "12" and si(None) == "–"
