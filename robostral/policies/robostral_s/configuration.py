"""Configuration of Robostral-S, saved with every checkpoint and copied into the policy card."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from robostral.language import EMBEDDING_DIM, embedding_dim

ACTION_MODES = ("delta", "absolute")


def check_order_rank(order_rank: int, pooling: str) -> None:
    """ValueError unless ``order_rank`` is 0 or fits in the order vector ``pooling`` makes."""
    order = embedding_dim(pooling) - EMBEDDING_DIM
    if order_rank and not 0 < order_rank <= order:
        raise ValueError(f"order_rank {order_rank} needs an order vector of at least that many floats; "
                         f"{pooling!r} pooling makes {order}")


@dataclass
class RobostralSConfig:
    """Shapes and sizes of the network. ``state_dim``/``action_dim`` come from the dataset.

    The state (proprio) is laid out as arm joint positions, arm joint velocities,
    gripper position; actions are arm joint targets then the gripper target.
    With ``action_mode="delta"`` the network predicts each chunk step as an offset
    from the current joint positions (finer resolution for the same output range);
    the exported graph adds the offset back, so it always outputs absolute targets.
    """

    name: ClassVar[str] = "robostral-s"  # the factory's key (robostral.policies.factory), written into cards
    # Set from the dataset and the instruction encoder, never chosen in a training config.
    shape_fields: ClassVar[tuple[str, ...]] = ("state_dim", "action_dim", "image_size", "language_dim", "joint_names")

    state_dim: int = 0
    action_dim: int = 0
    image_size: int = 96  # pixels, square RGB input
    chunk_size: int = 10  # control steps predicted per call (K)
    channels: tuple[int, ...] = (32, 64, 128)  # conv blocks, each halving the resolution
    keypoints: int = 64  # spatial-softmax keypoints read off the last feature map
    # Keypoints read off the feature map before the last (twice its resolution, for finer positions); 0 = none.
    fine_keypoints: int = 0
    # A second image from a camera on the wrist, through a conv tower of its own (same widths and keypoints).
    wrist_camera: bool = False
    # How the MiniLM-L6 token states become the instruction embedding (robostral.language.POOLINGS).
    language_pooling: str = "mean"
    language_dim: int = 0  # that embedding's length; 0 = the pooling's (any other value must equal it)
    # With an order vector (mean+order): keep only its part along the ``order_rank`` directions in which
    # swapping the two objects an instruction names moves it (the roles), dropping what tells wordings
    # apart; 0 = the whole order vector.
    order_rank: int = 0
    language_hidden: int = 0  # width of an MLP between the embedding and FiLM/head; 0 = linear FiLM straight from it
    hidden_dim: int = 512
    dropout: float = 0.1
    action_mode: str = "delta"
    # Feed the arm's joint velocities to the network. Off by default: with them the policy learns to
    # continue the motion it sees (a "copycat" shortcut) and, closed-loop with action latency, oscillates.
    proprio_velocity: bool = False
    joint_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.check_options(self)
        if self.state_dim <= 0 or self.action_dim <= 0:
            raise ValueError(f"state_dim and action_dim must be positive, got {self.state_dim} and {self.action_dim}")
        arm = self.action_dim - 1
        if self.state_dim != 2 * arm + 1:
            raise ValueError(
                f"state_dim {self.state_dim} does not match action_dim {self.action_dim}: "
                f"expected arm positions, velocities and gripper = {2 * arm + 1}"
            )
        if self.image_size < 32 or self.image_size % 2 ** len(self.channels):
            raise ValueError(f"image_size {self.image_size} must be >= 32 and divisible by {2 ** len(self.channels)}")
        pooled = embedding_dim(self.language_pooling)
        if self.language_dim not in (0, pooled):
            raise ValueError(
                f"language_dim {self.language_dim} does not match {self.language_pooling!r} pooling ({pooled})"
            )
        self.language_dim = pooled
        if self.joint_names and len(self.joint_names) != self.action_dim:
            raise ValueError(f"{len(self.joint_names)} joint names for action_dim {self.action_dim}")

    @staticmethod
    def check_options(options: RobostralSConfig) -> None:
        """ValueError naming the first bad option, of those not in ``shape_fields``; channels become a tuple.

        ``options`` is anything with those attributes: this config, or a training config's policy section.
        """
        options.channels = tuple(options.channels)
        if options.fine_keypoints < 0 or (options.fine_keypoints and len(options.channels) < 2):
            raise ValueError(f"fine_keypoints {options.fine_keypoints} needs >= 0 and at least two conv blocks")
        if not 1 <= options.chunk_size <= 100:
            raise ValueError(f"chunk_size must be within 1..100, got {options.chunk_size}")
        if options.action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode must be one of {ACTION_MODES}, got {options.action_mode!r}")
        if not 0 <= options.dropout < 1:
            raise ValueError(f"dropout must be within [0, 1), got {options.dropout}")
        check_order_rank(options.order_rank, options.language_pooling)

    @property
    def arm_dim(self) -> int:
        return self.action_dim - 1
