"""Numbers read from names and headers: only ASCII digits count ('²'.isdigit() is True, and
int('²') / float('²') raise)."""
import json

from training.ml.common import checkpoint_dirs, latest_checkpoint
from training.ml.openai_client import retry_after_seconds


def test_checkpoint_names_with_other_digits_are_not_checkpoints(tmp_path):
    for name in ("step-0000002", "step-²", "step-٣", "step-0000010"):
        (tmp_path / "checkpoints" / name).mkdir(parents=True)
        (tmp_path / "checkpoints" / name / "meta.json").write_text(json.dumps({"snapshot_sha256": "s"}))
    assert [p.name for p in checkpoint_dirs(tmp_path)] == ["step-0000002", "step-0000010"]
    assert latest_checkpoint(tmp_path, "s").name == "step-0000010"


def test_retry_after_reads_plain_seconds_only():
    assert retry_after_seconds("2") == 2.0 and retry_after_seconds(" 1.5 ") == 1.5
    for odd in ("²", "1²", "٣", "", "Wed, 21 Oct 2015 07:28:00 GMT", "-1", "1e3", "1.2.3"):
        assert retry_after_seconds(odd) is None, odd
