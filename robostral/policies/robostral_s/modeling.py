"""The Robostral-S network: a FiLM-conditioned CNN with spatial-softmax keypoints and a chunked action head.

Inputs are what the robot has: a raw uint8 RGB image (B, H, W, 3), the raw proprio
vector (B, state_dim) and the instruction's embedding (B, language_dim).
Normalization lives inside the module (buffers filled from dataset statistics),
so the exported ONNX graphs take raw inputs and return absolute joint targets
(B, chunk_size, action_dim) in joint units.

Everything the instruction decides (the language features the head reads and every
FiLM block's gamma and beta) depends on the instruction alone: ``condition`` computes
it, once per instruction, and ``act`` runs the per-step rest from the cameras, the
proprio and that condition. A bundle exports the two as separate graphs.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from robostral.language import EMBEDDING_DIM
from robostral.policies.robostral_s.configuration import RobostralSConfig

LANGUAGE_FEATURES = 128  # the language features the action head reads beside the image and proprio features


class FiLMBlock(nn.Module):
    """Conv (stride 2) -> GroupNorm -> feature-wise affine from the language embedding -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, language_dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False)
        self.norm = nn.GroupNorm(8, out_channels)
        self.film = nn.Linear(language_dim, 2 * out_channels)
        nn.init.zeros_(self.film.weight)  # start as identity: gamma = 1, beta = 0
        nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor, modulation: torch.Tensor) -> torch.Tensor:
        """``modulation``: ``film`` of the language code, (B, 2 * out_channels), gamma then beta."""
        gamma, beta = modulation[:, :, None, None].chunk(2, dim=1)
        return F.relu(self.norm(self.conv(x)) * (1 + gamma) + beta)


def _film_blocks(widths: tuple[int, ...], language_dim: int) -> list[FiLMBlock]:
    """Conv blocks from RGB through ``widths`` channels, each halving the resolution."""
    return [FiLMBlock(a, b, language_dim) for a, b in zip((3, *widths[:-1]), widths)]


class SpatialSoftmax(nn.Module):
    """Expected (x, y) image position, in [-1, 1], of each channel's activation (Levine et al. 2016)."""

    def __init__(self, height: int, width: int) -> None:
        super().__init__()
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
        self.register_buffer("grid", torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1), persistent=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        b, c, h, w = features.shape
        attention = torch.softmax(features.reshape(b, c, h * w), dim=-1)
        return (attention @ self.grid).reshape(b, 2 * c)


class RobostralS(nn.Module):
    """The policy network; ``forward`` maps raw inputs to an absolute action chunk."""

    def __init__(self, config: RobostralSConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        if c.language_hidden:
            code = c.language_hidden
            self.language_mlp = nn.Sequential(
                nn.Linear(c.language_dim, code), nn.ReLU(), nn.Linear(code, code), nn.ReLU()
            )
        else:
            code = c.language_dim
            self.language_mlp = nn.Identity()
        self.blocks = nn.ModuleList(_film_blocks(c.channels, code))
        channels = c.channels[-1]
        side = c.image_size // 2 ** len(c.channels)
        self.to_keypoints = nn.Conv2d(channels, c.keypoints, 1)
        self.spatial_softmax = SpatialSoftmax(side, side)
        self.language_proj = nn.Sequential(nn.Linear(code, LANGUAGE_FEATURES), nn.ReLU())
        proprio_dim = c.state_dim if c.proprio_velocity else c.arm_dim + 1
        self.state_proj = nn.Sequential(nn.Linear(proprio_dim, 128), nn.ReLU())
        features = 2 * c.keypoints + channels + LANGUAGE_FEATURES + 128
        if c.fine_keypoints:
            self.to_fine_keypoints = nn.Conv2d(c.channels[-2], c.fine_keypoints, 1)
            self.fine_spatial_softmax = SpatialSoftmax(2 * side, 2 * side)
            # The fine keypoints join the head's first layer through weights of their own, zero at first:
            # a network grown from a checkpoint without them starts out computing what it did.
            self.fine_to_hidden = nn.Linear(2 * c.fine_keypoints, c.hidden_dim, bias=False)
            nn.init.zeros_(self.fine_to_hidden.weight)
        if c.wrist_camera:  # its own tower; joins the head like the fine keypoints, from zero
            self.wrist_blocks = nn.ModuleList(_film_blocks(c.channels, code))
            self.wrist_to_keypoints = nn.Conv2d(channels, c.keypoints, 1)
            self.wrist_to_hidden = nn.Linear(2 * c.keypoints + channels, c.hidden_dim, bias=False)
            nn.init.zeros_(self.wrist_to_hidden.weight)
        self.head = nn.Sequential(
            nn.Linear(features, c.hidden_dim),
            nn.ReLU(),
            nn.Dropout(c.dropout),
            nn.Linear(c.hidden_dim, c.hidden_dim),
            nn.ReLU(),
            nn.Linear(c.hidden_dim, c.chunk_size * c.action_dim),
        )
        # Normalization statistics (identity until ``set_normalization``); saved with the weights.
        self.register_buffer("image_mean", torch.zeros(3))
        self.register_buffer("image_std", torch.ones(3))
        if c.wrist_camera:
            self.register_buffer("wrist_image_mean", torch.zeros(3))
            self.register_buffer("wrist_image_std", torch.ones(3))
        if c.order_rank:  # the order vector's centre and its projection onto the roles (``set_order_roles``)
            order = c.language_dim - EMBEDDING_DIM
            self.register_buffer("order_center", torch.zeros(order))
            self.register_buffer("order_projection", torch.eye(order))
        self.register_buffer("language_mean", torch.zeros(c.language_dim))
        self.register_buffer("language_std", torch.ones(c.language_dim))
        self.register_buffer("state_mean", torch.zeros(c.state_dim))
        self.register_buffer("state_std", torch.ones(c.state_dim))
        self.register_buffer("target_mean", torch.zeros(c.chunk_size, c.action_dim))
        self.register_buffer("target_std", torch.ones(c.chunk_size, c.action_dim))

    def set_normalization(self, stats: dict[str, torch.Tensor]) -> None:
        """Fill the normalization buffers; keys are the buffer names, std floored at 1e-3."""
        for name, value in stats.items():
            value = torch.as_tensor(value, dtype=torch.float32)
            if name.endswith("_std"):
                value = value.clamp_min(1e-3)
            getattr(self, name).copy_(value.reshape(getattr(self, name).shape))

    def set_order_roles(self, center: torch.Tensor, basis: torch.Tensor) -> None:
        """Project order vectors, about ``center``, onto the span of ``basis``'s ``order_rank`` orthonormal columns."""
        if tuple(basis.shape) != (self.order_projection.shape[0], self.config.order_rank):
            raise ValueError(f"an order basis of shape {tuple(basis.shape)}, expected "
                             f"{(self.order_projection.shape[0], self.config.order_rank)}")
        self.order_center.copy_(center)
        self.order_projection.copy_(basis @ basis.T)

    def language_roles(self, language: torch.Tensor) -> torch.Tensor:
        """The instruction embedding as the network reads it: with ``order_rank``, the order vector projected."""
        if not self.config.order_rank:
            return language
        mean, order = language[:, :EMBEDDING_DIM], language[:, EMBEDDING_DIM:]
        return torch.cat([mean, (order - self.order_center) @ self.order_projection + self.order_center], dim=1)

    def joint_positions(self, state: torch.Tensor) -> torch.Tensor:
        """Current joint positions in action order (arm joints, gripper) from the proprio vector."""
        arm = self.config.arm_dim
        return torch.cat([state[:, :arm], state[:, -1:]], dim=1)

    def proprio(self, state: torch.Tensor) -> torch.Tensor:
        """The part of the (normalized) proprio vector the network sees: all of it, or positions only."""
        return state if self.config.proprio_velocity else self.joint_positions(state)

    def _all_film_blocks(self) -> list[FiLMBlock]:
        """The front camera's FiLM blocks, then the wrist camera's: the order ``condition`` lays them out in."""
        return [*self.blocks, *(self.wrist_blocks if self.config.wrist_camera else ())]

    def _condition_widths(self) -> list[int]:
        """How ``condition`` splits: the head's language features, then each FiLM block's gamma and beta."""
        return [LANGUAGE_FEATURES] + [2 * block.conv.out_channels for block in self._all_film_blocks()]

    @property
    def condition_dim(self) -> int:
        """The width of ``condition``'s output."""
        return sum(self._condition_widths())

    def condition(self, language: torch.Tensor) -> torch.Tensor:
        """What the instruction decides, (B, condition_dim): the same for every step of one instruction."""
        # Standardized per dimension over the training instructions: MiniLM embeddings of instructions
        # that differ only in argument order are ~0.997 cosine-similar; this stretches what differs.
        code = self.language_mlp((self.language_roles(language) - self.language_mean) / self.language_std)
        return torch.cat([self.language_proj(code), *(block.film(code) for block in self._all_film_blocks())], dim=1)

    def act_normalized(
        self, image: torch.Tensor, state: torch.Tensor, condition: torch.Tensor, wrist_image: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Normalized chunk targets (B, K, A) from the cameras, the proprio and the instruction's ``condition``."""
        if (wrist_image is None) == self.config.wrist_camera:
            raise ValueError(f"this network {'takes' if self.config.wrist_camera else 'has no'} wrist camera image")
        language, *modulations = torch.split(condition, self._condition_widths(), dim=1)
        towers = len(self.blocks)
        fine, x = self._feature_maps(image, self.image_mean, self.image_std, self.blocks, modulations[:towers])
        keypoints = self.spatial_softmax(self.to_keypoints(x))
        pooled = x.mean(dim=(2, 3))
        state_features = self.state_proj(self.proprio((state - self.state_mean) / self.state_std))
        hidden = self.head[0](torch.cat([keypoints, pooled, language, state_features], dim=1))
        if self.config.fine_keypoints:
            hidden = hidden + self.fine_to_hidden(self.fine_spatial_softmax(self.to_fine_keypoints(fine)))
        if self.config.wrist_camera:
            _, w = self._feature_maps(wrist_image, self.wrist_image_mean, self.wrist_image_std, self.wrist_blocks,
                                      modulations[towers:])
            wrist = torch.cat([self.spatial_softmax(self.wrist_to_keypoints(w)), w.mean(dim=(2, 3))], dim=1)
            hidden = hidden + self.wrist_to_hidden(wrist)
        return self.head[1:](hidden).reshape(-1, self.config.chunk_size, self.config.action_dim)

    def predict_normalized(
        self, image: torch.Tensor, state: torch.Tensor, language: torch.Tensor, wrist_image: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The network's raw output: normalized chunk targets (B, K, A). Training compares against this."""
        return self.act_normalized(image, state, self.condition(language), wrist_image)

    @staticmethod
    def _feature_maps(image, mean, std, blocks: nn.ModuleList, modulations) -> tuple[torch.Tensor, torch.Tensor]:
        """A raw uint8 image through FiLM ``blocks``: the feature map before the last, and the last."""
        # Channels first, then one multiply-add per channel: the same (x / 255 - mean) / std, but a
        # broadcast over contiguous planes, which ONNX Runtime runs ~10x faster than over the last axis.
        scale, shift = 1.0 / (255.0 * std), -mean / std
        x = image.permute(0, 3, 1, 2).float() * scale[:, None, None] + shift[:, None, None]
        for block, modulation in zip(blocks[:-1], modulations):
            x = block(x, modulation)
        return x, blocks[-1](x, modulations[-1])

    def normalize_targets(self, actions: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """Ground-truth chunks (B, K, A, joint units) in the space ``predict_normalized`` outputs."""
        if self.config.action_mode == "delta":
            actions = actions - self.joint_positions(state)[:, None, :]
        return (actions - self.target_mean) / self.target_std

    def act(
        self, image: torch.Tensor, state: torch.Tensor, condition: torch.Tensor, wrist_image: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Absolute joint targets (B, K, A) in joint units from the instruction's ``condition``: the per-step graph."""
        actions = self.act_normalized(image, state, condition, wrist_image) * self.target_std + self.target_mean
        if self.config.action_mode == "delta":
            actions = actions + self.joint_positions(state)[:, None, :]
        return actions

    def forward(
        self, image: torch.Tensor, state: torch.Tensor, language: torch.Tensor, wrist_image: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Absolute joint targets (B, K, A) in joint units from the instruction's embedding: what deploys."""
        return self.act(image, state, self.condition(language), wrist_image)

    def num_trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
