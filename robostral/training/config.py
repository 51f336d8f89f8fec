"""The training configuration: one dataclass, loadable from YAML, overridable from the command line."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field

from robostral.policies.robostral_s.configuration import RobostralSConfig


def _options_of(config_class: type) -> type:
    """The dataclass of the policy options a training config chooses: ``config_class``'s fields but its
    ``shape_fields`` (those come from the dataset), with their types and defaults, checked by its
    ``check_options``; ``name`` is the policy's."""
    hints = typing.get_type_hints(config_class)
    chosen = [
        (f.name, hints[f.name], field(default=f.default, default_factory=f.default_factory))
        for f in dataclasses.fields(config_class)
        if f.name not in config_class.shape_fields
    ]

    def __post_init__(self) -> None:
        config_class.check_options(self)

    def of_network(cls, network: dict):
        """The options of the network a bundle's card describes (its ``network`` section)."""
        return cls(**{f.name: network[f.name] for f in dataclasses.fields(cls) if f.name in network})

    namespace = {"name": config_class.name, "__post_init__": __post_init__, "of_network": classmethod(of_network),
                 "__module__": __name__, "__doc__": "Network options chosen by the user; shapes come from the dataset."}
    return dataclasses.make_dataclass("PolicyOptions", chosen, namespace=namespace)


# How training holds the camera frames (robostral/training/frame_cache.py): "disk" decodes each PNG once into a
# uint8 file per camera that later runs reuse, "memory" decodes them all into memory at each start, "off" keeps
# them PNG in memory and decodes each batch's (the least memory, the slowest).
FRAME_CACHE_MODES = ("disk", "memory", "off")

# The policy training builds: its options, their types and defaults, live only in its configuration.py.
PolicyOptions = _options_of(RobostralSConfig)


@dataclass
class TrainConfig:
    dataset: str = ""
    out: str = "runs/train"
    steps: int = 20_000  # optimizer steps
    batch_size: int = 64
    lr: float = 3e-4
    weight_decay: float = 1e-4
    warmup_steps: int = 500
    min_lr_fraction: float = 0.05  # cosine decays to this fraction of lr
    grad_clip: float = 1.0
    val_fraction: float = 0.05  # of episodes, held out for the validation loss
    shift_pixels: int = 4  # random-shift augmentation, pixels
    color_jitter: float = 0.15  # brightness/contrast factors within 1 +/- this
    # Gaussian noise on each sample's instruction embedding, in units of the training instructions'
    # per-dimension spread: paraphrases the policy never saw land near the ones it did.
    language_noise: float = 0.0
    # Chance that a sample's instruction is swapped for one of its sim.language.PARAPHRASES wordings.
    paraphrase_prob: float = 0.0
    # A checkpoint folder or a policy bundle whose weights and normalization start a fresh run (fine-tuning,
    # or a network grown by options the source lacks, which keep their initialization); "" = random.
    init_from: str = ""
    seed: int = 0
    device: str = "cpu"
    threads: int = 0  # torch intra-op threads on CPU; 0 = all cores
    frame_cache: str = "disk"  # one of FRAME_CACHE_MODES; every mode trains on the same frames
    frame_cache_dir: str = ""  # where "disk" caches live; "" = a .frame_cache folder inside the dataset's
    log_every: int = 50
    eval_every: int = 1000
    checkpoint_every: int = 1000
    policy: PolicyOptions = field(default_factory=PolicyOptions)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "log_every", "eval_every", "checkpoint_every"):
            if getattr(self, name) <= 0:
                raise ValueError(f"TrainConfig.{name} must be positive, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"TrainConfig.lr must be positive, got {self.lr}")
        if not self.language_noise >= 0:
            raise ValueError(f"TrainConfig.language_noise must be >= 0, got {self.language_noise}")
        if not 0 <= self.paraphrase_prob <= 1:
            raise ValueError(f"TrainConfig.paraphrase_prob must be within [0, 1], got {self.paraphrase_prob}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"TrainConfig.val_fraction must be within [0, 1), got {self.val_fraction}")
        if self.frame_cache not in FRAME_CACHE_MODES:
            raise ValueError(f"TrainConfig.frame_cache must be one of {FRAME_CACHE_MODES}, got {self.frame_cache!r}")
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"TrainConfig.device must be cpu or cuda[:N], got {self.device!r}")
