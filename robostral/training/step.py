"""One training step on a batch, in the parts bench/train_throughput.py times apart: augment, loss, update.

Random draws come in a fixed order (the front camera's augmentation, the wrist camera's, the instructions'
paraphrases, their noise) from one generator, so that a run, a resumed run and the benchmark's contenders
see the same inputs step for step.
"""

from __future__ import annotations

import torch

from robostral.policies.robostral_s.modeling import RobostralS
from robostral.training.augment import color_jitter, random_shift
from robostral.training.batches import Batch
from robostral.training.config import TrainConfig
from robostral.training.instructions import InstructionEmbeddings


class TrainingStep:
    """Augments a batch, computes the model's L1 loss on it and takes one optimizer step."""

    def __init__(self, model: RobostralS, optimizer: torch.optim.Optimizer, instructions: InstructionEmbeddings,
                 config: TrainConfig, generator: torch.Generator, device: torch.device) -> None:
        self.model, self.optimizer, self.instructions = model, optimizer, instructions
        self.config, self.generator, self.device = config, generator, device

    def __call__(self, batch: Batch) -> float:
        """One step on ``batch``; its loss."""
        loss = self.loss(batch, *self.augment(batch))
        self.update(loss)
        return loss.item()

    def augment(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The batch's camera images (front, wrist or None) as the network trains on them, on the device."""
        images = self.augment_images(batch.image).to(self.device)
        wrist = None if batch.wrist_image is None else self.augment_images(batch.wrist_image).to(self.device)
        return images, wrist

    def augment_images(self, images: torch.Tensor) -> torch.Tensor:
        """Random shift (of the uint8 frames), then colour jitter, of (B, H, W, 3) uint8 images; float out."""
        shifted = random_shift(images, self.config.shift_pixels, self.generator).float()
        return color_jitter(shifted, self.config.color_jitter, self.generator)

    def loss(self, batch: Batch, images: torch.Tensor, wrist: torch.Tensor | None) -> torch.Tensor:
        """The forward pass: L1 between the network's normalized chunks and the batch's."""
        model, device = self.model, self.device
        state = batch.state.to(device)
        target = model.normalize_targets(batch.actions.to(device), state)
        language = self.instructions.sample(batch.task, self.generator).to(device)
        if self.config.language_noise:
            noise = torch.randn(language.shape, generator=self.generator).to(device)
            language = language + self.config.language_noise * model.language_std * noise
        return torch.nn.functional.l1_loss(model.predict_normalized(images, state, language, wrist), target)

    def update(self, loss: torch.Tensor) -> None:
        """The backward pass, gradient clipping and the optimizer's step."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
