"""SFT (TRL's SFTTrainer) under `accelerate launch` with two processes (gloo on CPU): the same
losses as one process with the same global batch, and one process reporting for both."""
import json
import subprocess
import sys

import pytest

from training.ml.sft import train
from training.tests.test_ml_reward_scale import ROOT, accelerate_launch, events_of
from training.tests.test_ml_sft import config, demo_rows, write_snapshot


@pytest.mark.process
def test_two_processes_reach_the_sft_loss_of_one_with_the_same_global_batch(tiny_model_path, tmp_path, capsys):
    import os

    data = write_snapshot(tmp_path / "snap", demo_rows(24, 1), demo_rows(4, 2))
    base = dict(max_steps=3, logging_steps=1, batch_size=2, save_steps=0, num_epochs=1)
    train(config(tiny_model_path, data, tmp_path / "one", gradient_accumulation_steps=2, **base))
    one = [e for e in events_of(capsys.readouterr().out) if e["event"] == "log"]
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(vars(config(tiny_model_path, data, tmp_path / "two", **base))))
    proc = subprocess.run(accelerate_launch(2) + ["-m", "training.ml.sft", "--config", str(spec)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
                               "TOKENIZERS_PARALLELISM": "false", "PATH": os.path.dirname(sys.executable) + ":" + os.environ["PATH"]})
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = events_of(proc.stdout)
    two = [e for e in events if e["event"] == "log"]
    assert [e["event"] for e in events].count("start") == 1 and [e["event"] for e in events].count("done") == 1
    assert [e["step"] for e in one] == [e["step"] for e in two] == [1, 2, 3]
    for a, b in zip(one, two, strict=True):
        assert abs(a["loss"] - b["loss"]) < 1e-4, (one, two)
    assert (tmp_path / "two" / "model" / "model.safetensors").exists()
