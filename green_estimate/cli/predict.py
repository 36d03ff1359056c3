"""``green-estimate predict``: training energy, time and CO2e of one or more models, before training."""
from __future__ import annotations

from typing import Annotated, List, Optional

import typer

from green_estimate.cli.common import cli_errors, echo_json, parse_shape, stdout_console
from green_estimate.cli.render import pct, si


@cli_errors
def predict(
    models: Annotated[List[str], typer.Argument(help="One or more MODELs: path/to/model.py[:name] or package.module[:name].")],
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", help="Samples per micro-batch on one GPU (per step without --grad-accum).")] = 64,
    samples: Annotated[Optional[int], typer.Option("--samples", help="Training-set size; steps/epoch = ceil(samples / (batch × grad-accum × gpus)).")] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="Passes over the training set.")] = 1,
    steps: Annotated[Optional[int], typer.Option("--steps", help="Total optimizer steps (instead of --samples × --epochs).")] = None,
    optimizer: Annotated[str, typer.Option(help="adam | adamw | sgd | none")] = "adam",
    input_shape: Annotated[Optional[str], typer.Option("--input-shape", help="Per-sample input shape, e.g. 3,32,32.")] = None,
    input_dtype: Annotated[Optional[str], typer.Option("--input-dtype", help="dtype of the --input-shape / INPUT_SHAPE input, e.g. int64 for token ids (overrides INPUT_DTYPE).")] = None,
    vocab_size: Annotated[Optional[int], typer.Option("--vocab-size", min=1, help="Random token ids are drawn below this (overrides VOCAB_SIZE; default: the smallest embedding).")] = None,
    profile: Annotated[Optional[str], typer.Option("--profile", help="Profile name, path, or datasheet:<gpu> (see `profiles`).")] = None,
    confidence: Annotated[float, typer.Option("--confidence", help="Prediction-interval probability.")] = 0.9,
    precision: Annotated[str, typer.Option("--precision", help="fp32 | tf32 | bf16 | fp16 (bf16/fp16: autocast mixed precision); the profile must price it.")] = "fp32",
    grid_intensity: Annotated[Optional[float], typer.Option("--grid-intensity", help="Grid carbon intensity in g CO2e/kWh.")] = None,
    region: Annotated[Optional[str], typer.Option("--region", help="Region code for the offline intensity table, e.g. DE, US, WORLD.")] = None,
    grad_accum: Annotated[int, typer.Option("--grad-accum", help="Micro-batches per optimizer step (gradient accumulation).")] = 1,
    gpus: Annotated[int, typer.Option("--gpus", help="GPUs training data-parallel, in all (each with --batch-size per micro-batch).")] = 1,
    nodes: Annotated[int, typer.Option("--nodes", help="Machines the --gpus are spread over (the same number on each).")] = 1,
    interconnect: Annotated[Optional[str], typer.Option("--interconnect", help="Links INTRA[,INTER]: nvlink3|nvlink4|nvlink5|pcie4|pcie5 inside a node, ib-hdr|ib-ndr|eth-100g|eth-400g between nodes. Default: from the GPU, and ib-ndr.")] = None,
    fsdp: Annotated[bool, typer.Option("--fsdp", help="Shard parameters, gradients and optimizer state (FSDP / ZeRO-3) instead of DDP's replicas.")] = False,
    overlap: Annotated[Optional[float], typer.Option("--overlap", help="Fraction (0-1) of the overlappable compute that hides communication (an assumption; default 0.5).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the green-estimate/prediction@1 JSON.")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a Markdown report (for pull-request comments).")] = False,
) -> None:
    """Predict the energy, time, kWh and CO2e of training MODEL, with prediction intervals.

    Several MODELs are compared side by side with ratios to the first.

    Example: green-estimate predict green_estimate/examples/simple_cnn.py --samples 60000 --epochs 25 --batch-size 512 --region DE

    Example: green-estimate predict green_estimate/examples/gpt2_1p3b.py --profile datasheet:h100-sxm --batch-size 8 --grad-accum 4 --gpus 64 --nodes 8 --interconnect nvlink4,ib-ndr --steps 1000
    Example: green-estimate predict green_estimate/examples/hf_gpt2_lm.py --precision bf16 --profile datasheet:h100-sxm --steps 1000
    """
    from green_estimate.predict import PredictSettings, predict_models
    from green_estimate.training_plan import TrainingPlan

    plan = TrainingPlan(batch_size, epochs, samples, steps_given=steps, grad_accum=grad_accum, gpus=gpus)
    settings = PredictSettings(optimizer=optimizer, profile=profile, precision=precision, confidence=confidence,
                               grid_intensity=grid_intensity, region=region, nodes=nodes, interconnect=interconnect,
                               fsdp=fsdp, overlap=overlap)
    result = predict_models(models, plan, settings, input_shape=parse_shape(input_shape), input_dtype=input_dtype,
                            vocab_size=vocab_size)
    if json_out:
        echo_json(result.to_dict())
        return
    dicts = result.documents()
    if markdown:
        from green_estimate.report_markdown import prediction_markdown

        typer.echo(prediction_markdown(dicts))
        return
    console = stdout_console()
    for d in dicts:
        _render(console, d)
    if len(dicts) > 1:
        _render_comparison(console, dicts)


def _render(console, d: dict) -> None:  # noqa: ANN001
    from rich.table import Table

    prof, plan, tot, step = d["profile"], d["plan"], d["total"], d["per_step"]
    conf = int(round(100 * d["confidence"]))
    console.print(f"[bold]{d['model']}[/bold]: batch {_batch(plan)}, {plan['steps']:,} steps "
                  f"({plan['epochs']} epoch(s){', ' + format(plan['samples'], ',') + ' samples' if plan['samples'] else ''})")
    console.print(f"Precision: {d.get('precision', 'fp32')}")
    console.print(f"Profile: {prof['name']} ({prof['origin']}) — {prof['device']}; energy [bold]{prof['provenance']}[/bold], "
                  f"time {prof.get('time_provenance') or prof['provenance']}; energy is the {prof['energy_basis']} draw")
    suite = prof.get("suite_networks")
    if suite and suite["measured"] < suite["in_suite"]:
        console.print(f"[yellow]Partial profile[/yellow]: fitted on {suite['measured']} of its suite's {suite['in_suite']} "
                      "networks (calibrate --max-minutes stopped the measuring); calibrate --resume with the same --out "
                      "measures the rest.")
    if d.get("step", {}).get("loss"):
        console.print(f"Loss: {d['step']['loss']}")
    t = Table(title=f"Prediction ({conf}% interval)", title_justify="left")
    for col in ("", "energy", f"{conf}% interval", "time", f"{conf}% interval"):
        t.add_column(col, justify="left" if col == "" else "right")
    t.add_row("per step", si(step["energy_j"], "J"), f"{si(step['energy_j_interval'][0], 'J')} – {si(step['energy_j_interval'][1], 'J')}",
              si(step["time_s"], "s"), f"{si(step['time_s_interval'][0], 's')} – {si(step['time_s_interval'][1], 's')}")
    t.add_row("whole run", si(tot["energy_j"], "J"), f"{si(tot['energy_j_interval'][0], 'J')} – {si(tot['energy_j_interval'][1], 'J')}",
              _duration(tot["time_s"]), f"{_duration(tot['time_s_interval'][0])} – {_duration(tot['time_s_interval'][1])}")
    t.add_row("", f"{tot['energy_kwh']:.4g} kWh", f"{tot['energy_kwh_interval'][0]:.3g} – {tot['energy_kwh_interval'][1]:.3g} kWh",
              "" if tot.get("gpu_hours") is None else f"{tot['gpu_hours']:.4g} GPU-h", "")
    console.print(t)
    if d.get("parallel"):
        for line in _parallel_lines(d["parallel"]):
            console.print(line)
    cover = (d.get("interval") or {}).get("coverage_unseen_family")
    if cover:
        like = ", weighted to those made up like this step" if "made up like" in d["interval"].get("method", "") else ""
        console.print(f"Interval: from calibration's errors on networks of architecture families it had not seen{like}; "
                      f"such a {cover['confidence']:.0%} interval held {cover['time_s']:.0%} of them.")
        ref = d["interval"].get("reference")
        if ref:
            console.print(_reference_line(ref))
    if tot["co2e_g"] is not None:
        gi = d["grid_intensity"]
        console.print(f"CO2e: {si(tot['co2e_g'], 'g')} ({si(tot['co2e_g_interval'][0], 'g')} – {si(tot['co2e_g_interval'][1], 'g')}) "
                      f"at {gi['g_per_kwh']:.0f} g/kWh ({gi['region'] or 'given'}, {gi['source']}{', ' + str(gi['year']) if gi['year'] else ''})")
    else:
        console.print("CO2e: not computed — pass --region (e.g. DE) or --grid-intensity g/kWh.")
    c = Table(title="Energy per step by layer class", title_justify="left")
    for col in ("class", "energy/step", "share", "time/step", "FLOPs", "bytes", "ops"):
        c.add_column(col, justify="left" if col == "class" else "right")
    for cls, row in d["by_class"].items():
        label = cls if row["priced_as"] == cls else f"{cls} (as {row['priced_as']})"
        c.add_row(label, si(row["energy_j_per_step"], "J"), pct(row["share"]), si(row["time_s_per_step"], "s"),
                  si(row["flops"]), si(row["bytes"], "B"), str(row["ops"]))
    console.print(c)
    for note in d["notes"]:
        console.print(f"[yellow]Note:[/yellow] {note}")
    console.print()


def _batch(plan: dict) -> str:
    """``8`` or ``8 × 4 micro-batches × 64 GPUs = 2,048 samples per step``."""
    k, n = plan.get("grad_accum", 1), plan.get("gpus", 1)
    if k == 1 and n == 1:
        return str(plan["batch_size"])
    parts = [str(plan["batch_size"])] + ([f"{k} micro-batches"] if k > 1 else []) + ([f"{n} GPUs"] if n > 1 else [])
    return " × ".join(parts) + f" = {plan['samples_per_step']:,} samples per step"


def _reference_line(ref: dict) -> str:
    """What the reference architectures did to the interval (interval.reference of prediction@1)."""
    scale, home = ref["scale"], ref.get("home_scale")
    which = (f"{ref['architectures']} standard architectures that calibration measured and never fitted (split "
             f"conformal prediction; their median error {pct(ref['median_ape']['time_s'])})")
    line = f"Scaled ×{scale['time_s']:.2f} (time), ×{scale['energy_j']:.2f} (energy) by the errors of {which}"
    if home and home != scale:
        line += (f"; on the CPU that made the profile they scaled it ×{home['time_s']:.2f} and ×{home['energy_j']:.2f}, "
                 "but they were measured there, so on this CPU they only widen it")
    return line + "."


def _parallel_lines(par: dict) -> list[str]:
    """Data parallelism in words: links, collectives, bytes, and the communication share."""
    links = par["interconnect"]
    where = links["intra"]["key"] + (f" inside nodes, {links['inter']['key']} between them" if "inter" in links else "")
    c = par["communication"]
    ops = ", ".join(f"{x['op']} ({x['algorithm']}) ×{x['per_step']}" for x in par["collectives"])
    lines = [f"Data parallel: {par['gpus']} GPUs on {par['nodes']} node(s), {par['scheme'].upper()} over {where}; "
             f"{si(par['gradient_bytes'], 'B')} of gradients; per step {ops}",
             f"  each GPU sends {si(par['bytes_per_gpu_per_step'], 'B')} per step"
             + (f", {si(par['network_bytes_per_gpu_per_step'], 'B')} of it over the network" if par["nodes"] > 1 else ""),
             f"  communication {si(c['time_s_per_step'], 's')} per step, {si(c['exposed_time_s_per_step'], 's')} not hidden "
             f"by compute ({pct(c['share_of_step_time'])} of step time, overlap {c['overlap']:g} assumed); "
             f"{pct(c['share_of_energy'])} of the energy (waiting GPUs {si(c['wait_energy_j_per_step'], 'J')}, "
             f"network {si(c['network_energy_j_per_step'], 'J')} per step)"]
    return lines


def _duration(seconds: float) -> str:
    if seconds < 120:
        return si(seconds, "s")
    if seconds < 7200:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"


def _render_comparison(console, dicts: list[dict]) -> None:  # noqa: ANN001
    from rich.table import Table

    t = Table(title="Side by side (ratio to the first model)", title_justify="left")
    for col in ("model", "energy", "ratio", "kWh", "time", "conv share", "linear share", "relu share"):
        t.add_column(col, justify="left" if col == "model" else "right")
    from green_estimate.prediction import ratios_to_first

    for d, ratio in zip(dicts, ratios_to_first(dicts)):
        bc = d["by_class"]
        t.add_row(d["model"], si(d["total"]["energy_j"], "J"), f"{ratio:.3f}×", f"{d['total']['energy_kwh']:.4g}",
                  _duration(d["total"]["time_s"]), *(pct(bc.get(k, {}).get("share", 0.0)) for k in ("conv", "linear", "relu")))
    console.print(t)
