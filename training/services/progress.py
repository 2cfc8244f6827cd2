"""The job message of a running trainer: which sub-step it is in and, while it trains, step i of
n with an ETA — from the trainer's own events (training/ml/common.py), never a fixed "preparing".

    narrator = TrainerNarrator()
    narrator.event({"event": "phase", "message": "encoding 480 sequences"})
    narrator.message()   # "encoding 480 sequences (3 s)"
    narrator.event({"event": "start", "total_steps": 30})
    narrator.event({"event": "log", "step": 3, "progress": 0.1})
    narrator.message()   # "training: step 3 of 30, about 1 min 30 s left"
"""
from __future__ import annotations

import time
from collections.abc import Callable

STARTING = "starting the trainer: loading the model and encoding the data"
FINISHING = "evaluating and saving the model"


def duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class TrainerNarrator:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.phase, self.phase_at = STARTING, clock()
        self.step = self.total = None
        self.base = None  # (time, step) from which the step rate is measured

    def event(self, event: dict) -> None:
        kind, now = event.get("event", "log"), self.clock()
        if kind == "phase":
            self.phase, self.phase_at = str(event.get("message") or ""), now
        elif kind == "start":
            if event.get("total_steps"):
                self.total = int(event["total_steps"])
            self.step = int(event.get("resumed_from_step") or 0)
            self.base, self.phase = (now, self.step), "training"
        elif kind in ("log", "eval") and isinstance(event.get("step"), int):
            step, progress = event["step"], event.get("progress")
            if isinstance(progress, (int, float)) and progress > 0 and not self.total:
                self.total = max(step, round(step / progress))
            if self.base is None:  # a trainer that sent no "start": the rate is measured from its first step
                self.base = (now, step)
            self.phase, self.step = "training", step

    def message(self) -> str:
        now = self.clock()
        if self.phase != "training" or self.step is None:
            return f"{self.phase} ({duration(now - self.phase_at)})"
        if self.total and self.step >= self.total:
            return f"{FINISHING} (step {self.step} of {self.total} done)"
        text = f"training: step {self.step} of {self.total or '?'}"
        t0, s0 = self.base
        if self.total and self.step > s0:
            left = (now - t0) / (self.step - s0) * (self.total - self.step)
            text += f", about {duration(left)} left"
        return text
