"""deploy/docker-compose.gpu-training.yml, the override that puts the training worker on a GPU
host (docs/operations.md): Debian's docker-compose merges it with docker-compose.yml into a
training worker with the host's GPUs, the main host's database and broker, an accelerate
launcher and the shared data directory; it refuses to start without the addresses."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
ENV = {"DJANGO_SECRET_KEY": "a-long-random-test-secret", "FLOWER_BASIC_AUTH": "ops:pw",
       "RANKLAB_DATABASE_URL": "postgres://ranklab:pw@10.0.0.5:5432/ranklab", "RANKLAB_REDIS_URL": "redis://10.0.0.5:6379/0",
       "RANKLAB_NFS_HOST": "10.0.0.5"}


def _config(env: dict) -> subprocess.CompletedProcess:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose not installed (apt-get install docker-compose)")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("RANKLAB_", "DJANGO_SECRET", "FLOWER"))}
    return subprocess.run([exe, "-f", "docker-compose.yml", "-f", "deploy/docker-compose.gpu-training.yml", "config"],
                          cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60)


def test_the_gpu_override_gives_the_training_worker_gpus_the_main_hosts_services_and_shared_data():
    done = _config(ENV)
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    worker = config["services"]["training-worker"]
    assert worker["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert worker["environment"]["DATABASE_URL"] == ENV["RANKLAB_DATABASE_URL"]
    assert worker["environment"]["REDIS_URL"] == ENV["RANKLAB_REDIS_URL"]
    assert worker["environment"]["RANKLAB_TRAINER_LAUNCHER"].startswith("accelerate launch --multi_gpu")
    assert "-Q" in worker["command"] and "training" in worker["command"]
    data = config["volumes"]["ranklab-data"]["driver_opts"]
    assert data["type"] == "nfs" and "addr=10.0.0.5" in data["o"]
    assert "GPU" not in str(config["services"]["worker"].get("deploy", ""))  # the other services are unchanged


@pytest.mark.parametrize("missing", ["RANKLAB_DATABASE_URL", "RANKLAB_REDIS_URL", "RANKLAB_NFS_HOST"])
def test_it_refuses_to_start_without_the_main_hosts_addresses(missing):
    done = _config({k: v for k, v in ENV.items() if k != missing})
    assert done.returncode != 0 and f"set {missing}" in done.stderr
