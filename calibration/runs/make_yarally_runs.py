"""Make the runs file of the study's GTX 1080 measurements from its tidy table (no value changed).

    python calibration/runs/make_yarally_runs.py ../shared/data/yarally-cain2023-rq1-gtx1080.csv \
        calibration/runs/yarally-cain2023-gtx1080.csv

One row per measured training: the model file beside this script with the family and the data set's
input (FashionMNIST C=1, H=28, 60,000 samples; CIFAR-10 C=3, H=32, 50,000), 25 epochs at batch 512
with Adam, the board's energy by nvidia-smi power polling (idle included). The study's hyper-parameters
do not change the work, so they are not carried over.
"""
import csv
import json
import sys
from pathlib import Path

DATASETS = {"FashionMNIST": (1, 28, 60000), "CIFAR-10": (3, 32, 50000)}
METER = "nvidia-smi power.draw polled every 0.1 s, mean x loop wall time"
SOURCE = "Yarally et al., CAIN 2023; yarally/preliminary-green-ai"


def main(src: str, dst: str) -> None:
    rows = []
    with open(src, newline="") as f:
        for r in csv.DictReader(f):
            c, h, samples = DATASETS[r["dataset"]]
            rows.append({
                "run": f"{Path(r['source_file']).stem}:{r['strategy']}:{r['trial']}:{r['model']}",
                "model": "yarally_cain2023_models.py",
                "model_args": json.dumps({"family": r["model"], "C": c, "H": h}),
                "input_shape": f"{c},{h},{h}", "batch_size": 512, "epochs": 25, "samples": samples, "steps": "",
                "optimizer": "adam", "device": "NVIDIA GeForce GTX 1080", "energy_j": r["energy_j"], "time_s": "",
                "meter": METER, "idle_included": "true", "repetitions": 1, "source": f"{SOURCE} {r['source_file']}",
            })
    with open(dst, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"{len(rows)} runs -> {dst}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
