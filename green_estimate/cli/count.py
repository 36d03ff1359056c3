"""``green-estimate count``: the static cost of one training step."""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from green_estimate.cli.common import cli_errors, echo_json, parse_shape, parse_target, stdout_console
from green_estimate.cli.render import binary_bytes, pct, si


@cli_errors
def count(
    model: Annotated[str, typer.Argument(help="path/to/model.py[:name] or package.module[:name]")],
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Samples per step.")] = 64,
    optimizer: Annotated[str, typer.Option(help="adam | adamw | sgd | none")] = "adam",
    input_shape: Annotated[Optional[str], typer.Option("--input-shape", help="Per-sample input shape, e.g. 3,32,32 (overrides the file).")] = None,
    input_dtype: Annotated[Optional[str], typer.Option("--input-dtype", help="dtype of the --input-shape / INPUT_SHAPE input, e.g. int64 for token ids (overrides INPUT_DTYPE).")] = None,
    vocab_size: Annotated[Optional[int], typer.Option("--vocab-size", min=1, help="Random token ids are drawn below this (overrides VOCAB_SIZE; default: the smallest embedding).")] = None,
    compare: Annotated[bool, typer.Option("--compare", help="Show fvcore's and ptflops' forward counts beside ours, explained.")] = False,
    modules: Annotated[int, typer.Option("--modules", help="Also list the N costliest modules by FLOPs.")] = 0,
    precision: Annotated[str, typer.Option("--precision", help="fp32 | tf32 | bf16 | fp16 (bf16/fp16: autocast mixed precision; fp16 adds the gradient scaler).")] = "fp32",
    target: Annotated[str, typer.Option("--target", help="gpu | cpu: the device the step is counted for (autocast's op lists; gpu counts attention as the fused kernel a CUDA GPU runs).")] = "gpu",
    attention: Annotated[str, typer.Option("--attention", help="auto | flash | efficient | math: the attention kernel on a gpu target (auto picks as PyTorch's CUDA dispatcher).")] = "auto",
    json_out: Annotated[bool, typer.Option("--json", help="Print the green-estimate/cost@1 JSON document.")] = False,
) -> None:
    """Count FLOPs and bytes of one training step (forward, backward, optimizer), by class and phase.

    The step runs on the meta device: no weights are allocated.

    Example: green-estimate count green_estimate/examples/simple_cnn.py --batch-size 512 --compare

    Example: green-estimate count green_estimate/examples/hf_gpt2_lm.py --batch-size 8 --precision bf16
    """
    from green_estimate.counting.model_count import count_model

    result = count_model(model, batch_size=batch_size, optimizer=optimizer, precision=precision,
                         target=parse_target(target), attention=attention, input_shape=parse_shape(input_shape),
                         input_dtype=input_dtype, vocab_size=vocab_size, compare=compare)
    if json_out:
        echo_json(result.to_dict())
        return
    _render(result.report, result.comparison, modules)


def _render(report, comparison, modules: int) -> None:  # noqa: ANN001
    from rich.table import Table

    console = stdout_console()
    d = report.to_dict()
    tot = d["totals"]
    console.print(
        f"[bold]{report.model}[/bold] — one training step, batch {report.batch_size}, optimizer {report.optimizer}, "
        f"{report.parameters:,} parameters, counted on {report.device}, precision {report.precision} for a "
        f"{'GPU' if report.target == 'cuda' else 'CPU'}"
    )
    if report.attention_backends:
        console.print("Attention: " + ", ".join(f"{n} × {b}" for b, n in report.attention_backends.items())
                      + " (scaled_dot_product_attention calls, by the kernel counted)")
    console.print(f"Loss: {report.loss}")
    table = Table(title="FLOPs and bytes by class and phase", title_justify="left")
    for col in ("class", "phase", "FLOPs", "bytes", "ops", "FLOP share", "byte share"):
        table.add_column(col, justify="left" if col in ("class", "phase") else "right")
    for cls, row in d["by_class"].items():
        table.add_row(f"[bold]{cls}[/bold]", "all", si(row["flops"]), binary_bytes(row["bytes"]), str(row["ops"]),
                      pct(row["flops"] / tot["flops"] if tot["flops"] else None), pct(row["bytes"] / tot["bytes"] if tot["bytes"] else None))
        for phase, p in row["by_phase"].items():
            if p["ops"]:
                table.add_row("", phase, si(p["flops"]), binary_bytes(p["bytes"]), str(p["ops"]), "", "")
    table.add_section()
    for phase, p in d["by_phase"].items():
        table.add_row("[bold]total[/bold]", phase, si(p["flops"]), binary_bytes(p["bytes"]), str(p["ops"]), "", "")
    table.add_row("[bold]total[/bold]", "all", si(tot["flops"]), binary_bytes(tot["bytes"]), str(tot["ops"]), "100%", "100%")
    console.print(table)
    console.print(f"Convention: {d['flop_convention']}; bytes = {d['byte_convention']}.")
    if d["uncounted_ops"]:
        console.print("[yellow]Uncounted ops[/yellow] (no FLOP formula; their bytes are counted): "
                      + ", ".join(f"{k} ×{v}" for k, v in d["uncounted_ops"].items()))
    else:
        console.print("Uncounted ops: none — every op has a FLOP formula.")
    for note in d["notes"]:
        console.print(f"[yellow]Note:[/yellow] {note}")
    if modules:
        mt = Table(title=f"Top {modules} modules by FLOPs", title_justify="left")
        for col in ("module", "FLOPs", "bytes", "ops"):
            mt.add_column(col, justify="left" if col == "module" else "right")
        ranked = sorted(report.by_module().items(), key=lambda kv: -kv[1].flops)[:modules]
        for name, t in ranked:
            mt.add_row(name, si(t.flops, "FLOP"), binary_bytes(t.bytes), str(t.ops))
        console.print(mt)
    if comparison is not None:
        _render_comparison(console, comparison)


def _render_comparison(console, comparison) -> None:  # noqa: ANN001
    from rich.table import Table

    t = Table(title=f"Forward FLOPs at batch {comparison.batch_size}, one convention (2 FLOPs per MAC)", title_justify="left")
    for col in ("counter", "reported (batch 1)", "converted", "ours, same scope", "ratio"):
        t.add_column(col, justify="left" if col == "counter" else "right")
    for r in comparison.rows:
        if r.error:
            t.add_row(f"{r.tool} {r.version}", f"[red]failed: {r.error}[/red]", "", "", "")
            continue
        t.add_row(f"{r.tool} {r.version}", f"{r.reported:,.0f} {r.reported_unit}", si(r.flops_forward, "FLOP"),
                  si(r.ours_same_scope, "FLOP"), f"{r.ratio:.3f}" if r.ratio else "–")
    console.print(t)
    for r in comparison.rows:
        for e in r.explanations:
            console.print(f"  {r.tool}: {e}")
    for n in comparison.notes:
        console.print(f"  {n}")
