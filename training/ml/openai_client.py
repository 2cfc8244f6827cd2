"""Sampling from an OpenAI-compatible server (`POST {base_url}/chat/completions`): vLLM,
llama.cpp's server, TGI, or a hosted API.

    client = EndpointClient(EndpointConfig(base_url="http://127.0.0.1:8080/v1", model="smollm2"))
    for i, samples in client.sample(conversations, seeds=[[1, 2, 3, 4]] * len(conversations), config=cfg):
        ...

K samples are asked for with `n=K`; servers that ignore `n` (llama.cpp returns one choice)
get the missing samples as further calls, one per seed, and are remembered as such. 429 and
5xx answers, dropped connections and timeouts are retried with exponential backoff; prompts
run `concurrency` at a time. The API key goes in the Authorization header only: every error
message is built here from the status and a redacted excerpt of the body, never from the
request, so it cannot leak into logs or job errors. No Django here.
"""
from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass

from training.ml.generate import Sample, SamplingConfig, storable_text

RETRY_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504}


@dataclass
class EndpointConfig:
    base_url: str = ""  # e.g. http://127.0.0.1:8080/v1 (with or without the /v1)
    model: str = ""
    api_key: str = ""
    timeout: float = 120.0  # seconds per request
    max_retries: int = 3  # further attempts after the first, on 429/5xx/timeouts
    backoff: float = 0.5  # seconds; doubles each retry (a Retry-After header wins when given)
    concurrency: int = 4  # requests in flight at once

    @property
    def url(self) -> str:
        base = self.base_url.rstrip("/")
        return (base if base.endswith("/v1") else base + "/v1") + "/chat/completions"


class EndpointError(Exception):
    """A request that failed for good. The message is safe to log and show: no key."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def retry_after_seconds(value: str) -> float | None:
    """A Retry-After header in seconds ("2", "1.5"), else None (an HTTP date, or digits such as
    '²' that str.isdigit accepts and float refuses)."""
    return float(value) if re.fullmatch(r"[0-9]+(\.[0-9]*)?", value.strip()) else None


def redact(text: str, secret: str) -> str:
    return text.replace(secret, "[redacted]") if secret else text


class EndpointClient:
    def __init__(self, config: EndpointConfig):
        import httpx

        self.config = config
        headers = {"Content-Type": "application/json"}
        if config.api_key:
            headers["Authorization"] = f"Bearer {config.api_key}"
        self._http = httpx.Client(headers=headers, timeout=httpx.Timeout(config.timeout, connect=min(10.0, config.timeout)))
        self.n_supported: bool | None = None  # learnt from the first answer
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    # --- one request, with retries ------------------------------------------------------
    def _post(self, payload: dict, stream: bool = False):
        import httpx

        cfg, delay = self.config, self.config.backoff
        for attempt in range(cfg.max_retries + 1):
            last = attempt == cfg.max_retries
            try:
                if stream:
                    request = self._http.build_request("POST", cfg.url, json=payload)
                    response = self._http.send(request, stream=True)
                else:
                    response = self._http.post(cfg.url, json=payload)
            except httpx.TimeoutException:
                problem = f"no answer within {cfg.timeout:g} s"
            except httpx.TransportError as exc:
                problem = f"connection failed ({type(exc).__name__})"
            else:
                if response.status_code < 400:
                    return response
                if stream:
                    response.read()
                problem = f"HTTP {response.status_code}: {self._excerpt(response)}"
                if response.status_code not in RETRY_STATUSES:
                    raise EndpointError(f"{cfg.url} refused the request: {problem}", status=response.status_code)
                wait_s = retry_after_seconds(response.headers.get("retry-after", ""))
                if wait_s is not None:
                    delay = max(delay, min(wait_s, 60.0))
            if last:
                tries = cfg.max_retries + 1
                raise EndpointError(f"{cfg.url}: {problem} (gave up after {tries} attempt{'s' * (tries > 1)})")
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def _excerpt(self, response) -> str:
        try:
            body = response.json()
            message = body.get("error", body) if isinstance(body, dict) else body
            if isinstance(message, dict):
                message = message.get("message", message)
            text = str(message)
        except ValueError:
            text = response.text
        return redact(" ".join(text.split())[:300], self.config.api_key) or "(empty body)"

    def _payload(self, messages: list[dict], n: int, seed: int, config: SamplingConfig) -> dict:
        payload = {"model": self.config.model, "messages": messages, "max_tokens": config.max_new_tokens,
                   "temperature": config.temperature, "top_p": config.top_p, "seed": int(seed) % (2**31)}
        if n > 1:
            payload["n"] = n
        return payload

    def chat(self, messages: list[dict], *, n: int, seed: int, config: SamplingConfig) -> list[dict]:
        """Choices of one request: [{"text", "finish_reason", "new_tokens"}]."""
        response = self._post(self._payload(messages, n, seed, config))
        try:
            body = response.json()
            choices = body["choices"]
            usage = body.get("usage") or {}
            out = [{"text": (c.get("message") or {}).get("content") or "", "finish_reason": c.get("finish_reason") or "",
                    "new_tokens": usage.get("completion_tokens", 0) // max(1, len(choices))} for c in choices]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise EndpointError(f"{self.config.url} answered with something that is not a chat completion: "
                                f"{self._excerpt(response)}")
        if not out:
            raise EndpointError(f"{self.config.url} answered with no choices")
        return out

    # --- K samples for one prompt -------------------------------------------------------
    def sample_one(self, messages: list[dict], seeds: list[int], config: SamplingConfig) -> list[Sample]:
        samples: list[Sample] = []
        if len(seeds) > 1 and self.n_supported is not False:
            try:
                choices = self.chat(messages, n=len(seeds), seed=seeds[0], config=config)
            except EndpointError as exc:
                if exc.status not in (400, 422):  # some servers refuse `n` outright
                    raise
                choices = []
            with self._lock:
                self.n_supported = len(choices) >= len(seeds)
            # With n, one request seeds all choices: each records the request's seed.
            samples += [self._to_sample(c, seeds[0]) for c in choices[:len(seeds)]]
        for seed in seeds[len(samples):]:
            samples.append(self._to_sample(self.chat(messages, n=1, seed=seed, config=config)[0], seed))
        return samples

    @staticmethod
    def _to_sample(choice: dict, seed: int) -> Sample:
        reason = "length" if choice["finish_reason"] == "length" else "stop"
        # The seed as sent (servers take 31-bit seeds), so the candidate records what was asked.
        return Sample(text=choice["text"].strip(), seed=int(seed) % (2**31), new_tokens=int(choice["new_tokens"]),
                      finish_reason=reason)

    def sample(self, conversations: list[list[dict]], seeds: list[list[int]], config: SamplingConfig,
               on_step: Callable[[], None] | None = None,
               on_text: Callable[[int, int, str], None] | None = None) -> Iterator[tuple[int, list[Sample]]]:
        """Same contract as LocalGenerator.sample: yields (index, samples) as prompts finish.
        On an error, prompts already yielded stay done; the error names how far it got."""
        config.validate()
        if on_text and len(conversations) == 1 and len(seeds[0]) == 1:
            text = self.stream(conversations[0], seed=seeds[0][0], config=config,
                               on_text=lambda t: on_text(0, 0, t), on_step=on_step)
            yield 0, [Sample(text=text.strip(), seed=int(seeds[0][0]) % (2**31), new_tokens=0, finish_reason="stop")]
            return
        todo = [i for i in range(len(conversations)) if seeds[i]]
        with ThreadPoolExecutor(max_workers=max(1, self.config.concurrency)) as pool:
            pending = {pool.submit(self.sample_one, conversations[i], seeds[i], config): i for i in todo}
            try:
                while pending:
                    done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                    if on_step:
                        on_step()
                    for future in done:
                        i = pending.pop(future)
                        yield i, future.result()
            finally:
                for future in pending:
                    future.cancel()

    def stream(self, messages: list[dict], *, seed: int, config: SamplingConfig, on_text: Callable[[str], None],
               on_step: Callable[[], None] | None = None) -> str:
        """One answer with `stream: true` (server-sent events), reporting the text so far."""
        payload = dict(self._payload(messages, 1, seed, config), stream=True)
        response = self._post(payload, stream=True)
        text = ""
        try:
            if "text/event-stream" not in response.headers.get("content-type", ""):
                response.read()
                body = response.json()
                text = storable_text(body["choices"][0]["message"]["content"] or "")
                on_text(text)
                return text
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                delta = ((json.loads(data).get("choices") or [{}])[0].get("delta") or {}).get("content") or ""
                if delta:
                    text += storable_text(delta)
                    on_text(text)
                if on_step:
                    on_step()
        except (ValueError, KeyError, IndexError, TypeError):
            raise EndpointError(f"{self.config.url} sent a stream that is not a chat completion")
        finally:
            response.close()
        return text
