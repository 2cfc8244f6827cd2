"""Frozen lower layers computed once per sequence.

When the embeddings and the lower N decoder layers are frozen (and dropout is off), their output
for a sequence is the same at every step and every epoch: compute it once, keep it, and train on
the upper layers alone, which take it as `inputs_embeds`.

    hidden = lower_outputs(backbone, n_frozen, sequences, pad_id)     # [L_i, H] per sequence
    upper = upper_view(backbone, n_frozen)                             # shares the upper layers
    scores = cached_scores(upper, head, hidden_batch, attention_mask)  # = the full model's scores

The view shares the model's upper layer modules, so training it trains the model that is saved;
tests check that the scores and gradients equal those of full sequences.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from training.ml.common import ConfigError, decoder_layers


class _Enough(Exception):
    """Raised by the hook on the last frozen layer: the layers above it need not run."""


def backbone_and_head(model):
    """(the transformer body, the scalar head) of a sequence classifier, peft-wrapped or not."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return getattr(inner, inner.base_model_prefix), inner.score


def pad_ids(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded [N, L] ids and attention mask."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
    return ids, mask


def pad_hidden(hidden: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded [N, L, H] hidden states and their [N, L] attention mask."""
    width = max(h.shape[0] for h in hidden)
    out = hidden[0].new_zeros((len(hidden), width, hidden[0].shape[1]))
    mask = torch.zeros((len(hidden), width), dtype=torch.long)
    for row, h in enumerate(hidden):
        out[row, : h.shape[0]] = h
        mask[row, : h.shape[0]] = 1
    return out, mask


@torch.no_grad()
def lower_outputs(backbone, n_frozen: int, seqs: list[list[int]], pad_id: int, *, batch_size: int = 16,
                  device="cpu") -> list[torch.Tensor]:
    """The output of the last frozen layer for each sequence, unpadded [L_i, H], in input order.
    Sequences are batched by length so that little is spent on padding."""
    captured = {}

    def keep(module, args, output):
        captured["hidden"] = output[0] if isinstance(output, tuple) else output
        raise _Enough

    handle = decoder_layers(backbone)[n_frozen - 1].register_forward_hook(keep)
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    out: list[torch.Tensor] = [None] * len(seqs)  # type: ignore[list-item]
    try:
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            ids, mask = pad_ids([seqs[i] for i in rows], pad_id)
            try:
                backbone(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False)
            except _Enough:
                pass
            for row, i in enumerate(rows):
                out[i] = captured["hidden"][row, : len(seqs[i])].detach().clone()
    finally:
        handle.remove()
    return out


def upper_view(backbone, n_frozen: int):
    """The backbone without its lower n_frozen layers, reading the cached hidden states as
    inputs_embeds; it shares every other module (the upper layers, the final norm, the rotary
    embedding) with the backbone."""
    layers = decoder_layers(backbone)
    name = next(n for n, child in backbone.named_children() if child is layers)
    view = copy.copy(backbone)
    view._modules = dict(backbone._modules)  # a copy, or the backbone would lose its lower layers too
    view._modules[name] = nn.ModuleList(list(layers)[n_frozen:])
    return view


def cached_scores(upper, head, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """hidden [N, L, H] (right-padded lower-layer outputs), mask [N, L] → scores [N], read at each
    sequence's last token as the sequence classifier does."""
    out = upper(inputs_embeds=hidden, attention_mask=mask, use_cache=False).last_hidden_state  # [N, L, H]
    last = mask.sum(1) - 1
    return head(out[torch.arange(out.shape[0], device=out.device), last])[:, 0]


class LowerCache:
    """The reward trainer's cache_frozen: each sequence's lower-layer output, computed the first
    time a batch needs it and kept on its group as "hidden" (so training runs from the first
    step, a process computes only the sequences it is given, and later epochs run the upper
    layers alone). `upper` is the view that runs the upper layers on it. The first fill checks
    that cached scores equal the model's own and refuses a model where they differ (one that
    rescales inputs_embeds, say), naming the setting to turn off."""

    def __init__(self, model, n_frozen: int, pad_id: int, device, *, batch_size: int = 16):
        self.model, self.n_frozen, self.pad_id, self.device, self.batch_size = model, n_frozen, pad_id, device, batch_size
        self.backbone, self.head = backbone_and_head(model)
        self.upper = upper_view(self.backbone, n_frozen)
        self.checked = False

    def fill(self, groups: list[dict]) -> None:
        missing = [g for g in groups if "hidden" not in g]
        if not missing:
            return
        seqs = [g["prompt"] + ids for g in missing for ids in g["ids"]]
        was_training = self.model.training
        self.model.eval()  # the cache is what the frozen layers compute without dropout
        try:
            hidden = lower_outputs(self.backbone, self.n_frozen, seqs, self.pad_id, batch_size=self.batch_size,
                                   device=self.device)
            if not self.checked:
                self._check(seqs[0], hidden[0])
        finally:
            self.model.train(was_training)
        n = 0
        for g in missing:
            g["hidden"] = hidden[n : n + len(g["ids"])]
            n += len(g["ids"])

    @torch.no_grad()
    def _check(self, seq: list[int], hidden: torch.Tensor) -> None:
        ids, mask = pad_ids([seq], self.pad_id)
        full = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device), use_cache=False).logits[:, 0]
        cached = cached_scores(self.upper, self.head, hidden[None], mask.to(self.device))
        if not torch.allclose(full, cached, atol=1e-3, rtol=1e-3):
            raise ConfigError(f"cache_frozen: this model's upper layers give other scores from cached inputs "
                              f"({float(full[0]):.4f} vs {float(cached[0]):.4f}); set cache_frozen=false")
        self.checked = True


def _dropout_settings(config) -> dict:
    """The model config's dropout probabilities that are not zero (attention dropout is applied
    functionally, so turning off nn.Dropout modules does not reach it)."""
    return {k: v for k, v in vars(config).items()
            if ("dropout" in k or "pdrop" in k) and isinstance(v, float) and v > 0}


class CausalLowerCache:
    """cache_frozen for a causal LM trained by a stock trainer (TRL's DPOTrainer): while attached,
    the backbone's forward reads each row's lower-layer output from a cache keyed by the row's
    real tokens (computed the first time the row is seen) and runs the upper layers alone on it.
    The module tree is untouched, so checkpoints and the saved model stay complete. Exact for
    right-padded rows under causal attention: a real position never sees the padding after it,
    and padded positions carry no label."""

    def __init__(self, backbone, n_frozen: int, *, batch_size: int = 16):
        if dropout := _dropout_settings(backbone.config):
            raise ConfigError(f"cache_frozen needs a model without dropout, this one sets {dropout}: the cached "
                              "lower layers would differ from the ones training runs; set cache_frozen=false")
        self.backbone, self.n_frozen, self.batch_size = backbone, n_frozen, batch_size
        self.full = copy.copy(backbone)  # taken before the patch: the backbone's own forward, for the fill
        self.upper = upper_view(backbone, n_frozen)
        self.hidden: dict[tuple[int, ...], torch.Tensor] = {}  # real tokens → [L, H]
        self.checked = False

    def __enter__(self):
        self.backbone.forward = self.forward
        return self

    def __exit__(self, *exc) -> None:
        del self.backbone.forward

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        if input_ids is None or attention_mask is None or kwargs.get("past_key_values") is not None:
            return self.full.forward(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        lengths = attention_mask.sum(1)
        positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
        if not torch.equal(attention_mask.bool(), positions[None] < lengths[:, None]):
            raise ConfigError("cache_frozen needs right-padded batches")
        keys = [tuple(ids[:n].tolist()) for ids, n in zip(input_ids, lengths.tolist(), strict=True)]
        self._fill([k for k in dict.fromkeys(keys) if k not in self.hidden], input_ids.device)
        hidden = self.hidden[keys[0]].new_zeros((*input_ids.shape, self.hidden[keys[0]].shape[-1]))  # [N, L, H]
        for row, key in enumerate(keys):
            hidden[row, : len(key)] = self.hidden[key]
        return self.upper(inputs_embeds=hidden, attention_mask=attention_mask, **kwargs)

    def _fill(self, seqs: list[tuple[int, ...]], device) -> None:
        if not seqs:
            return
        hidden = lower_outputs(self.full, self.n_frozen, [list(s) for s in seqs], 0, batch_size=self.batch_size,
                               device=device)
        self.hidden.update(zip(seqs, hidden, strict=True))
        if not self.checked:
            self._check(seqs[0], device)

    @torch.no_grad()
    def _check(self, seq: tuple[int, ...], device) -> None:
        """Refuse a model whose upper layers read inputs_embeds otherwise than their lower layers'
        output (one that rescales inputs_embeds, say)."""
        ids = torch.tensor([seq], device=device)
        mask = torch.ones_like(ids)
        full = self.full(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
        cached = self.upper(inputs_embeds=self.hidden[seq][None], attention_mask=mask, use_cache=False).last_hidden_state
        if not torch.allclose(full, cached, atol=1e-4, rtol=1e-3):
            raise ConfigError("cache_frozen: this model's upper layers give other outputs from cached inputs "
                              f"(max difference {float((full - cached).abs().max()):.2e}); set cache_frozen=false")
        self.checked = True
