"""The one reader per config format: TOML and YAML files, each error one line naming the file."""
from __future__ import annotations

import pytest

from green_estimate.config_files import TOMLDecodeError, parse_toml, read_toml, read_yaml
from green_estimate.errors import ConfigError


def test_toml_and_yaml_files_are_read(tmp_path):
    (tmp_path / "a.toml").write_text('[tool.x]\nsteps = 3\n')
    (tmp_path / "a.yaml").write_text("steps: 3\nspace: {lr: [1, 2]}\n")
    assert read_toml(tmp_path / "a.toml") == {"tool": {"x": {"steps": 3}}}
    assert read_yaml(tmp_path / "a.yaml") == {"steps": 3, "space": {"lr": [1, 2]}}
    assert parse_toml("a = 1") == {"a": 1}


@pytest.mark.parametrize("reader", [read_toml, read_yaml])
def test_a_missing_file_names_it(tmp_path, reader):
    with pytest.raises(ConfigError, match=r"nope\.cfg: no such file$"):
        reader(tmp_path / "nope.cfg")


def test_bad_toml_and_yaml_name_the_file_and_the_format(tmp_path):
    (tmp_path / "bad.toml").write_text("a = [\n")
    (tmp_path / "bad.yaml").write_text("a: [1,\n  b: }\n")
    with pytest.raises(ConfigError, match=r"bad\.toml is not valid TOML: "):
        read_toml(tmp_path / "bad.toml")
    with pytest.raises(ConfigError, match=r"bad\.yaml is not valid YAML: \S") as e:
        read_yaml(tmp_path / "bad.yaml")
    assert "\n" not in str(e.value)
    with pytest.raises(TOMLDecodeError):
        parse_toml("a = [")
