"""The OpenAI-compatible backend against real servers on 127.0.0.1: llama.cpp's server
(llama-cpp-python[server]) on the bundled GGUF, and a small stdlib server process
(openai_test_server.py) that injects the faults a real deployment shows: 5xx/429, a hung
request, a server ignoring `n`, a server quoting the API key back in its error."""
import json
import logging
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from annotate.models import Candidate, Task, TaskKind
from annotate.services.projects import prompt_create
from conftest import free_port
from jobs.models import JobStatus
from jobs.services import job_run
from training.ml.bundled import gguf_path
from training.services.generation import generation_start, suggestion_start
from training.services.registry import model_register

pytestmark = pytest.mark.django_db(transaction=True)
SERVER = Path(__file__).with_name("openai_test_server.py")
KEY = "sk-ranklab-TOPSECRET-4242"
PARAMS = {"max_new_tokens": 16, "temperature": 0.9, "top_p": 0.95}


def _wait_http(url: str, proc, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} not up in {timeout} s")


def _start(cmd, url, timeout):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_http(url, proc, timeout)
    except RuntimeError:
        proc.kill()
        raise
    return proc


class FaultServer:
    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"

    def mode(self, mode: str) -> None:
        req = urllib.request.Request(self.base + "/_mode", data=json.dumps({"mode": mode}).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=5).read()

    def stats(self) -> dict:
        return json.loads(urllib.request.urlopen(self.base + "/_stats", timeout=5).read())


@pytest.fixture(scope="module")
def fault_server():
    port = free_port()
    proc = _start([sys.executable, str(SERVER), str(port)], f"http://127.0.0.1:{port}/v1/models", 30)
    yield FaultServer(port)
    proc.kill()
    proc.wait()


@pytest.fixture(scope="module")
def llama_server():
    pytest.importorskip("llama_cpp.server", reason="pip install 'llama-cpp-python[server]'")
    port = free_port()
    proc = _start([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()), "--host", "127.0.0.1",
                   "--port", str(port), "--n_threads", "1", "--n_ctx", "1024", "--model_alias", "smollm2"],
                  f"http://127.0.0.1:{port}/v1/models", 120)
    yield f"http://127.0.0.1:{port}"
    proc.kill()
    proc.wait()


def _endpoint(base, name="endpoint", **config):
    return model_register(name=name, backend="openai", location=base + "/v1", endpoint_model="test-model",
                          api_key=KEY, config={"backoff": 0.05, **config})


def _prompts(project, n):
    return [prompt_create(project=project, conversation=f"Name {i + 2} fruits.") for i in range(n)]


def _run(project, model, k=2, **params):
    return job_run(job_id=generation_start(project=project, model_versions=[model], k=k, params={**PARAMS, **params}).pk)


def test_llama_cpp_server_answers_and_its_ignored_n_means_k_calls(project, llama_server):
    model = model_register(name="smollm2-llamacpp", backend="openai", location=llama_server + "/v1",
                           endpoint_model="smollm2")
    _prompts(project, 2)
    job = _run(project, model, k=3)
    assert job.status == JobStatus.SUCCEEDED, job.error
    tasks = Task.objects.filter(kind=TaskKind.RANKING)
    assert tasks.count() == 2
    for task in tasks:
        texts = [Candidate.objects.get(pk=i).text for i in task.candidate_ids()]
        # Three different sampled answers; a real model may answer in emoji alone ("🍕💥✨" came
        # once), so letters are asked of one of them, not of each.
        assert len(set(texts)) == 3 and all(t.strip() for t in texts)
        assert any(any(ch.isalpha() for ch in t) for t in texts)
    cand = Candidate.objects.first()
    assert cand.sampling_params["backend"] == "openai" and 0 <= cand.seed < 2**31


def test_llama_cpp_server_streams_a_playground_answer(admin_user, llama_server):
    model = model_register(name="smollm2-stream", backend="openai", location=llama_server + "/v1",
                           endpoint_model="smollm2")
    job = suggestion_start(user=admin_user, conversation=[{"role": "user", "content": "Say hello in French."}],
                           model_version=model, stream=True, params={"max_new_tokens": 24, "seed": 5})
    job = job_run(job_id=job.pk)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.result["text"].strip() and job.result["seed"] == 5 and "partial" not in job.result


def test_server_that_supports_n_gets_one_request_per_prompt(project, fault_server):
    fault_server.mode("ok")
    _prompts(project, 3)
    job = _run(project, _endpoint(fault_server.base), k=4)
    assert job.status == JobStatus.SUCCEEDED, job.error
    requests = fault_server.stats()["requests"]
    assert len(requests) == 3 and all(r["n"] == 4 for r in requests)
    assert all(r["auth"] == f"Bearer {KEY}" for r in requests)
    assert Candidate.objects.count() == 12


def test_server_ignoring_n_gets_the_missing_samples_one_by_one(project, fault_server):
    fault_server.mode("no_n")
    _prompts(project, 1)
    job = _run(project, _endpoint(fault_server.base), k=3)
    assert job.status == JobStatus.SUCCEEDED, job.error
    requests = fault_server.stats()["requests"]
    assert [r["n"] for r in requests] == [3, None, None]
    assert len({r["seed"] for r in requests}) == 3
    assert Candidate.objects.count() == 3


@pytest.mark.parametrize("status", [500, 429])
def test_overloaded_server_is_retried_with_backoff(project, fault_server, status):
    fault_server.mode(f"fail:2:{status}")
    _prompts(project, 2)
    job = _run(project, _endpoint(fault_server.base, concurrency=1), k=2)
    assert job.status == JobStatus.SUCCEEDED, job.error
    statuses = [r["status"] for r in fault_server.stats()["requests"]]
    assert statuses == [status, status, 200, 200]
    assert Task.objects.filter(kind=TaskKind.RANKING).count() == 2


def test_concurrency_limit_holds(project, fault_server):
    fault_server.mode("slow:0.3")
    _prompts(project, 6)
    job = _run(project, _endpoint(fault_server.base, concurrency=2), k=2)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert fault_server.stats()["max_inflight"] == 2


def test_timeout_fails_the_job_clearly_and_keeps_what_was_done(project, fault_server, caplog):
    fault_server.mode("hang_after:1:20")
    _prompts(project, 3)
    started = time.monotonic()
    with caplog.at_level(logging.INFO):
        job = _run(project, _endpoint(fault_server.base, timeout=1, max_retries=1, concurrency=1), k=2)
    assert time.monotonic() - started < 15
    assert job.status == JobStatus.FAILED
    assert "no answer within 1 s (gave up after 2 attempts)" in job.error
    assert "1 of 3 prompts were done and kept" in job.error
    assert Task.objects.filter(kind=TaskKind.RANKING).count() == 1 and Candidate.objects.count() == 2
    for text in (job.error, job.log_tail, job.traceback, caplog.text):
        assert KEY not in text


def test_api_key_quoted_back_by_the_server_never_reaches_errors_or_logs(project, fault_server, caplog):
    fault_server.mode("echo_key:401")
    _prompts(project, 1)
    with caplog.at_level(logging.DEBUG):
        job = _run(project, _endpoint(fault_server.base), k=2)
    assert job.status == JobStatus.FAILED
    assert "refused the request: HTTP 401: Invalid key: Bearer [redacted]" in job.error
    assert fault_server.stats()["requests"][0]["auth"] == f"Bearer {KEY}"  # it was sent, to the server only
    for text in (job.error, job.log_tail, job.traceback, caplog.text, repr(job.params)):
        assert KEY not in text


def test_api_key_is_not_in_an_export_of_the_candidates_it_produced(project, fault_server, labeler):
    from annotate.services.assignments import task_next_for_labeler
    from annotate.services.submissions import RankingInput, ranking_submit
    from exports.models import ExportSnapshot
    from exports.services.snapshots import export_start

    fault_server.mode("ok")
    _prompts(project, 1)
    model = _endpoint(fault_server.base, name="keyed-endpoint")
    assert _run(project, model, k=2).status == JobStatus.SUCCEEDED
    assignment = task_next_for_labeler(user=labeler, project=project)
    ids = assignment.task.candidate_ids()
    ranking_submit(user=labeler, assignment_id=assignment.pk, data=RankingInput(tiers=[[ids[0]], [ids[1]]]))
    export = job_run(job_id=export_start(project=project, options={}).pk)
    assert export.status == JobStatus.SUCCEEDED, export.error
    files = [p for p in Path(ExportSnapshot.objects.get(job=export).path).rglob("*") if p.is_file()]
    text = "".join(p.read_text(errors="replace") for p in files)
    assert "keyed-endpoint" in text  # the model is named in the export…
    assert KEY not in text  # …its key is not
