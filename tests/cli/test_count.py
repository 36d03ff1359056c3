"""`green-estimate count`: the JSON contract, the table, errors, and a light --help."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from green_estimate.cli.app import app

EXAMPLE = str(Path(__file__).resolve().parents[2] / "green_estimate" / "examples" / "simple_cnn.py")
runner = CliRunner()


def test_count_json_contract():
    res = runner.invoke(app, ["count", EXAMPLE, "--json", "--batch-size", "8"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["schema"] == "green-estimate/cost@1"
    assert d["batch_size"] == 8 and d["optimizer"] == "adam"
    assert d["flop_convention"] == "2 FLOPs per multiply-accumulate"
    for key in ("model", "parameters", "totals", "by_class", "by_phase", "uncounted_ops"):
        assert key in d
    assert set(d["by_phase"]) == {"forward", "backward", "optimizer"}
    for cls in ("conv", "linear", "relu"):
        assert set(d["by_class"][cls]) >= {"flops", "bytes", "ops", "by_phase"}
        assert d["by_class"][cls]["bytes"] > 0
    # first conv: 1→3 channels, 28×28 outputs, 9 MACs each, batch 8
    assert d["by_class"]["conv"]["by_phase"]["forward"]["flops"] >= 2 * 8 * 3 * 28 * 28 * 9


def test_count_table_and_compare():
    res = runner.invoke(app, ["count", EXAMPLE, "--compare", "--batch-size", "4"])
    assert res.exit_code == 0, res.output
    assert "FLOPs and bytes by class and phase" in res.stdout
    assert "fvcore" in res.stdout and "ptflops" in res.stdout
    assert "multiply-accumulates" in res.stdout


def test_compare_json_converts_fvcore_exactly():
    res = runner.invoke(app, ["count", EXAMPLE, "--compare", "--json", "--batch-size", "4"])
    d = json.loads(res.stdout)
    fv = next(r for r in d["compare"]["counters"] if r["tool"] == "fvcore")
    # fvcore's conv+linear MACs ×2 ×batch equal our conv+linear forward FLOPs
    assert abs(fv["ratio"] - 1.0) < 1e-9


def test_errors_are_one_line_on_stderr(tmp_path):
    res = runner.invoke(app, ["count", str(tmp_path / "missing.py")])
    assert res.exit_code == 1
    assert res.stderr.startswith("Error: model file") and "Traceback" not in res.output
    assert res.stderr.count("\n") == 1


def test_bad_input_shape_is_usage_error():
    res = runner.invoke(app, ["count", EXAMPLE, "--input-shape", "3,x"])
    assert res.exit_code == 2
    assert "--input-shape" in res.stderr


def test_help_does_not_import_torch():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from green_estimate.cli.app import app\n"
        "r = CliRunner().invoke(app, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = [m for m in ('torch', 'statsmodels', 'pynvml', 'optuna', 'matplotlib', 'numpy') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_loss_and_token_inputs_through_the_cli():
    from pathlib import Path

    corpus = Path(__file__).resolve().parents[1] / "corpus"
    res = runner.invoke(app, ["count", str(corpus / "hf_gpt2_logits_only.py"), "-b", "2", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["loss"].startswith("per-token cross-entropy on the `logits` output, logits (2, 16, 100)")
    res = runner.invoke(app, ["count", str(corpus / "embedding_bag.py"), "-b", "3", "--input-shape", "9",
                              "--input-dtype", "int64", "--vocab-size", "20", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["input_shapes"] == [[3, 9]]
    res = runner.invoke(app, ["count", str(corpus / "zero_params.py"), "-b", "2"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "Loss: cross-entropy on the output, logits (2, 48)" in res.stdout
    assert "no trainable parameters: counted without an optimizer step" in res.stdout
