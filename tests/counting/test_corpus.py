"""The model-file corpus (tests/corpus/): every file is counted with the hand-computed GEMM FLOPs, or
refused with its own one-line message.

GEMM FLOPs are the forward FLOPs of the ``linear`` class (mm/addmm/bmm...: 2 per multiply-accumulate)
at batch B = 4; the arithmetic is written beside each expected number.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from green_estimate.counting.counter import count_model
from green_estimate.errors import ModelLoadError

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
B = 4


def gemm_forward(report) -> int:
    return sum(o.flops for o in report.ops if o.cls == "linear" and o.phase == "forward")


def conv_forward(report) -> int:
    return sum(o.flops for o in report.ops if o.cls == "conv" and o.phase == "forward")


# Transformer arithmetic, per layer: Q, K, V and output projections 4·(2·B·T·d·d); feed-forward
# 2·(2·B·T·d·I); attention scores and weighted sum (as matmuls on the meta device) 2·(2·B·T·T·d).
def _bert(T=16, d=32, I=64, L=2, labels=3):  # noqa: E741
    return L * (4 * 2 * B * T * d * d + 2 * 2 * B * T * d * I + 2 * 2 * B * T * T * d) + 2 * B * d * d + 2 * B * d * labels


def _gpt2(T=16, d=32, L=2, V=100):
    # GPT-2's feed-forward is 4·d wide: 2·(2·B·T·d·4d) = 16·B·T·d², with QKV+proj 8·B·T·d² → 24·B·T·d²
    return L * (24 * B * T * d * d + 4 * B * T * T * d) + 2 * B * T * d * V


COUNTED = {
    # file: (GEMM forward FLOPs, the arithmetic is the expression)
    "study_simple_cnn_lazy.py": 2 * B * (441 * 392 + 392 * 196 + 196 * 10),  # 9 ch × 7 × 7 = 441 → 392 → 196 → 10
    "study_dense_poly_lazy.py": 2 * B * (784 * 392 + 392 * 196 + 196 * 10),  # 784/2, 784/4
    "study_dense_linear_lazy.py": 2 * B * (784 * 522 + 522 * 261 + 261 * 10),  # floor(784·2/3), floor(784/3)
    "prebuilt_lazy.py": 2 * B * (12 * 6 + 6 * 3),
    "hf_bert_tiny.py": _bert(),
    "hf_gpt2_tiny.py": _gpt2(),
    "hf_gpt2_logits_only.py": _gpt2(),
    "lstm.py": 5 * 2 * B * (8 * 4 * 16 + 16 * 4 * 16) + 2 * B * 16 * 3,  # 5 steps × (x·W_ih + h·W_hh), 4 gates
    "gru.py": 5 * 2 * B * (8 * 3 * 16 + 16 * 3 * 16) + 2 * B * 16 * 3,  # 3 gates
    "embedding_bag.py": 2 * B * 16 * 4,  # the bag itself is a lookup, not a GEMM
    "multi_input.py": 2 * B * (4 * 8 + 6 * 8 + 8 * 2),
    "dict_input.py": 2 * B * (12 * 8 + 3 * 8 + 8 * 5),
    "dict_output.py": 2 * B * (10 * 6 + 6 * 4),
    "returns_loss.py": 2 * B * 7 * 1,
    "tuple_output.py": 2 * B * (9 * 5 + 5 * 3),
    "zero_params.py": 0,
    "custom_autograd.py": 2 * B * (8 * 4 + 4 * 2),
    "data_dependent.py": 2 * B * 8 * 4,
}

REFUSED = {
    "shape_mismatch.py": r"rejected input of shape \(4, 12\): layer `0` \(Linear\) raised RuntimeError",
    "syntax_error.py": r"syntax_error.py:3: syntax error",
    "missing_import.py": r"raised ModuleNotFoundError: No module named 'not_a_real_module_xyz' \(.*line 2\)",
    "build_raises.py": r"build_model\(\) in .* raised ValueError: width must be positive",
    "empty.py": r"defines none of build_model\(\), model, get_model\(\)",
    "a_directory": r"is a directory: name the .py file",
    "no_input_shape.py": r"no input shape for .*INPUT_SHAPE",
    "integer_output.py": r"output has dtype torch.int64; a training step needs a floating-point output",
    "not_a_module.py": r"returned a int, not a torch.nn.Module",
    "exits_at_import.py": r"called sys.exit\(2\).*if __name__ == \"__main__\"",
    "bad_example_input.py": r"must return a tensor, a tuple of tensors or a dict of tensors; it returned a str",
    "bad_input_dtype.py": r"INPUT_DTYPE in .* 'integer' is not a dtype: use one of .*int64",
}


def test_the_corpus_has_at_least_25_files_and_each_has_an_expectation():
    files = {p.name for p in CORPUS.iterdir() if p.suffix == ".py" or p.is_dir()} - {"__pycache__"}
    assert len(files) >= 25
    assert files == set(COUNTED) | set(REFUSED)


@pytest.mark.parametrize("name", sorted(COUNTED))
def test_counted_with_the_hand_computed_gemm_flops(name):
    report = count_model(str(CORPUS / name), batch_size=B)
    assert gemm_forward(report) == COUNTED[name]
    assert report.loss  # the output always says what the loss was


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_in_one_line(name, capsys):
    with pytest.raises(ModelLoadError, match=REFUSED[name]) as info:
        count_model(str(CORPUS / name), batch_size=B)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["study_simple_cnn_lazy.py", "study_dense_poly_lazy.py", "study_dense_linear_lazy.py"])
def test_lazy_study_models_equal_their_eager_twins(name):
    lazy = count_model(str(CORPUS / name), batch_size=B)
    eager = count_model(f"{CORPUS / name}:eager", batch_size=B)
    assert lazy.parameters == eager.parameters > 0
    assert lazy.totals().to_dict() == eager.totals().to_dict()
    assert {c: t.to_dict() for c, t in lazy.by_class().items()} == {c: t.to_dict() for c, t in eager.by_class().items()}
    assert any("Lazy modules were materialised" in n for n in lazy.notes)


def test_simple_cnn_conv_flops():
    # 3×3 convs, padding 1: block 0 1→3 channels at 28×28, block 1 3→9 at 14×14
    report = count_model(str(CORPUS / "study_simple_cnn_lazy.py"), batch_size=B)
    assert conv_forward(report) == 2 * B * (3 * 1 * 9 * 28 * 28 + 9 * 3 * 9 * 14 * 14)
    assert report.parameters == (3 * 9 + 3) + 2 * 3 + (9 * 27 + 9) + 2 * 9 + (441 * 392 + 392) + (392 * 196 + 196) + (196 * 10 + 10)


def test_returned_loss_is_the_step_loss_and_otherwise_the_loss_is_named():
    own = count_model(str(CORPUS / "hf_gpt2_tiny.py"), batch_size=B)
    assert own.loss.startswith("the loss the model returned")
    assert len([o for o in own.ops if o.op == "aten.nll_loss_forward"]) == 1  # the model's, no second one of ours
    lm = count_model(str(CORPUS / "hf_gpt2_logits_only.py"), batch_size=B)
    assert lm.loss.startswith("per-token cross-entropy") and "(4, 16, 100)" in lm.loss
    nll = [o for o in lm.ops if o.op == "aten.nll_loss_forward"]
    assert len(nll) == 1  # one loss over the B·T = 64 tokens
    assert "output 0 of a 2-tensor tuple" in count_model(str(CORPUS / "tuple_output.py"), batch_size=B).loss
    assert "the `logits` output" in count_model(str(CORPUS / "dict_output.py"), batch_size=B).loss
    assert count_model(str(CORPUS / "returns_loss.py"), batch_size=B).loss.startswith("the loss the model returned")


def test_zero_parameter_model_has_no_optimizer_step_and_says_so():
    report = count_model(str(CORPUS / "zero_params.py"), batch_size=B)
    assert report.parameters == 0 and report.optimizer == "none"
    assert not [o for o in report.ops if o.phase in ("backward", "optimizer")]
    assert any("no trainable parameters" in n for n in report.notes)
    assert report.totals().flops > 0  # the forward is still counted


def test_data_dependent_model_is_counted_on_cpu_and_scaled_with_a_note():
    report = count_model(str(CORPUS / "data_dependent.py"), batch_size=8)
    assert report.device == "cpu" and report.batch_size == 8
    assert gemm_forward(report) == 2 * 8 * 8 * 4
    # backward of the Linear: grad_weight = grad_outᵀ·x → 2·8·4·8 (no grad for the input)
    assert sum(o.flops for o in report.ops if o.cls == "linear" and o.phase == "backward") == 2 * 8 * 4 * 8
    assert any("batch 1 and 2 and scaled linearly to batch 8" in n for n in report.notes)
    assert "(8, 4)" in report.loss


def test_token_ids_from_input_dtype_and_the_option():
    report = count_model(str(CORPUS / "embedding_bag.py"), batch_size=B)
    assert report.input_shapes == [(B, 6)]
    ids = count_model(str(CORPUS / "embedding_bag.py"), batch_size=B, input_shape=(9,), input_dtype="long", vocab_size=50)
    assert ids.input_shapes == [(B, 9)]
    with pytest.raises(ModelLoadError, match="--input-dtype 'words' is not a dtype"):
        count_model(str(CORPUS / "embedding_bag.py"), batch_size=B, input_dtype="words")


@pytest.mark.slow
def test_gpt2_default_config_forward_gemm_flops_match_the_analytic_count():
    """GPT-2 (124M) at batch 8, sequence 1024, on the meta device: forward GEMM FLOPs within 1 %."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from green_estimate.counting.counter import count_workload
    from green_estimate.loading import Workload

    b, t, d, layers, vocab = 8, 1024, 768, 12, 50257
    ids = lambda n: {"input_ids": torch.zeros(n, t, dtype=torch.long), "labels": torch.zeros(n, t, dtype=torch.long)}  # noqa: E731
    report = count_workload(Workload(name="gpt2", build=lambda: GPT2LMHeadModel(GPT2Config()), example_input=ids),
                            batch_size=b)
    assert report.device == "meta"
    projections = 2 * b * t * d * (3 * d + d + 4 * d + 4 * d)  # c_attn (QKV), attn c_proj, mlp c_fc, mlp c_proj
    attention = 2 * (2 * b * t * t * d)  # Q·Kᵀ and weights·V over all heads
    lm_head = 2 * b * t * d * vocab
    analytic = layers * (projections + attention) + lm_head  # 2,333,186,457,600
    counted = sum(o.flops for o in report.ops if o.cls in ("linear", "attention") and o.phase == "forward")
    assert abs(counted - analytic) / analytic < 0.01
    assert report.parameters == 124_439_808  # GPT-2 small, the LM head tied to the token embedding


def test_compare_runs_on_lazy_token_and_dict_input_models():
    from green_estimate.compare import compare_counters
    from green_estimate.counting.counter import count_workload
    from green_estimate.loading import load_workload

    lazy = load_workload(str(CORPUS / "study_dense_poly_lazy.py"))
    fvcore = compare_counters(lazy, count_workload(lazy, batch_size=B)).rows[0]
    assert fvcore.error == "" and fvcore.reported == 784 * 392 + 392 * 196 + 196 * 10  # MACs at batch 1
    tokens = load_workload(str(CORPUS / "embedding_bag.py"))
    assert compare_counters(tokens, count_workload(tokens, batch_size=B)).rows[0].reported == 16 * 4
    keywords = load_workload(str(CORPUS / "dict_input.py"))
    rows = compare_counters(keywords, count_workload(keywords, batch_size=B)).rows
    assert "positional inputs only" in rows[0].error and rows[1].error == ""
