"""Show and Tell: one image vector starts an LSTM that writes the caption, with no attention.

Implements Vinyals et al. 2015, "Show and Tell: A Neural Image Caption Generator"
(arXiv:1411.4555), as the ablation of :mod:`multimodal_core.models.show_attend_tell`: the same
CNN encoder (its :class:`~multimodal_core.models.show_attend_tell.Encoder`, coordinate channels
included) and the same vocabulary, but the decoder never looks at the picture again.

**The image enters once, as the LSTM's initial state**: the maximum and the mean of the 12 x 12
region features over the picture, normalised, go through one fully connected layer (512, ReLU)
into the one image vector, and h0, c0 come from it, linearly (see :meth:`ShowAndTell.init_state`,
which computes them); every later step reads only the previous word. The output is the paper's
p_{t+1} = softmax(W h_t) (no deep output layer). The maximum is what names the objects: an object
covers a few regions of 144, so a mean (the paper's global average pool) or an average-pooled
coarse grid mostly carries the background; trained with either, the model learned the
background and not the objects.

The paper's CNN is pretrained and fixed at first; here the pretrained CNN is the attention
model's trained encoder, loaded by ``multimodal_core.train.show_and_tell`` and kept frozen
(``freeze_encoder``), so the two models differ by attention alone. What else differs from the
paper, and why: the vector sets the initial state instead of being fed as the first input x_{-1}
(a first training of that form here never learned to name the objects in an hour, and the
attention model also starts from a state made of the picture); the paper's ensembles and
scheduled choices are not used. Trained from scratch instead (``freeze_encoder`` off), the
encoder takes the attention model's training-only region head (``region_classes > 0``).

The step API (``encode``, ``init_state``, ``step``, :class:`StepOutput`) is the one
``multimodal_core.decoding`` drives for the attention model, so greedy and beam search serve this
model unchanged. ``StepOutput.attention`` is (R, 1) zeros: one "region", the whole picture, with
weight 0, because no step reads the image (decoding stacks one such column per step; a (R, 0)
tensor cannot be reshaped by beam search).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from multimodal_core.models.checkpoint import ConfigMixin, PretrainedModel
from multimodal_core.models.show_attend_tell import (
    SPECIAL_TOKENS,
    CaptionerOutput,
    DecoderState,
    Encoder,
    StepOutput,
)

__all__ = ["ImageMemory", "ShowAndTell", "ShowAndTellConfig"]


@dataclass
class ShowAndTellConfig(ConfigMixin):
    """Hyperparameters of :class:`ShowAndTell`; the shared ones default as the attention model's.

    Args:
        vocab_size (int): number of tokens, the four special tokens included.
        pad_id, start_id, end_id, unk_id (int, defaults to 0, 1, 2, 3): ids of the special tokens.
        image_size (int, defaults to 96): side of the square RGB input in pixels.
        encoder_channels (tuple[int, ...], defaults to (24, 48, 128)): channels of the encoder
            stages, each halving the resolution.
        encoder_dim (int, defaults to 128): size of a region feature.
        embed_dim (int, defaults to 64): word embedding size.
        decoder_dim (int, defaults to 256): LSTM hidden size.
        dropout (float, defaults to 0.1): dropout before the output layer.
        max_length (int, defaults to 40): default decoding limit in tokens, <end> included.
        image_dim (int, defaults to 512): size of the one image vector.
        freeze_encoder (bool, defaults to False): keep the encoder as loaded (no gradient, its
            batch-norm statistics fixed), the paper's pretrained CNN.
        region_classes (int, defaults to 0): when > 0, a training-only linear head on the region
            features predicts the class under each region (0 = background).
        region_loss_weight (float, defaults to 1.0): weight of that auxiliary loss.
    """

    vocab_size: int
    pad_id: int = 0
    start_id: int = 1
    end_id: int = 2
    unk_id: int = 3
    image_size: int = 96
    encoder_channels: tuple[int, ...] = (24, 48, 128)
    encoder_dim: int = 128
    embed_dim: int = 64
    decoder_dim: int = 256
    dropout: float = 0.1
    max_length: int = 40
    image_dim: int = 512
    freeze_encoder: bool = False
    region_classes: int = 0
    region_loss_weight: float = 1.0

    def __post_init__(self) -> None:
        self.encoder_channels = tuple(int(c) for c in self.encoder_channels)  # JSON gives lists
        specials = (self.pad_id, self.start_id, self.end_id, self.unk_id)
        if self.vocab_size < len(SPECIAL_TOKENS) + 1:
            raise ValueError(f"vocab_size must be at least 5, got {self.vocab_size}")
        if len(set(specials)) != 4 or not all(0 <= i < self.vocab_size for i in specials):
            raise ValueError(f"special token ids must be distinct and < vocab_size, got {specials}")
        sizes = (
            *self.encoder_channels,
            self.encoder_dim,
            self.embed_dim,
            self.decoder_dim,
            self.image_dim,
        )
        if not self.encoder_channels or min(sizes) <= 0 or self.max_length <= 0:
            raise ValueError("channels, sizes and max_length must be positive")
        if self.image_size % (2 ** len(self.encoder_channels)) != 0:
            raise ValueError(
                f"image_size ({self.image_size}) must be divisible by 2 ** len(encoder_channels)"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.region_classes < 0 or self.region_loss_weight < 0:
            raise ValueError("region_classes and region_loss_weight must be >= 0")
        if self.freeze_encoder and self.region_classes:
            raise ValueError("a frozen encoder learns nothing from a region head: region_classes 0")

    @property
    def grid_size(self) -> int:
        """Side of the encoder's region grid (pooled into one vector here)."""
        return self.image_size // 2 ** len(self.encoder_channels)


@dataclass
class ImageMemory:
    """What a step may read of the images: their region features (R, N, D), kept for the
    training-only region head; the decoder reads them only in :meth:`ShowAndTell.init_state`.
    One row per decoding row (a row's features are one image's, shared by its beams)."""

    features: torch.Tensor

    def repeat_interleave(self, k: int) -> ImageMemory:
        """Each image's row for k beams in a row (a view of the same storage, not a copy)."""
        b = self.features.shape[0]
        return ImageMemory(
            self.features[:, None].expand(b, k, *self.features.shape[1:]).flatten(0, 1)
        )

    def index_select(self, rows: torch.Tensor) -> ImageMemory:
        return ImageMemory(self.features.index_select(0, rows))


class ShowAndTell(PretrainedModel):
    """Image captioner: the attention model's :class:`Encoder`, one image vector, then an LSTM."""

    config_class = ShowAndTellConfig
    memory_format = torch.channels_last  # as the attention model: faster CPU convolutions

    def __init__(self, config: ShowAndTellConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)  # type: ignore[arg-type]  # reads the shared fields only
        if config.freeze_encoder:
            self.encoder.requires_grad_(False)
        pooled = 2 * config.encoder_dim  # the maximum and the mean over the regions
        # Region features are large (trained under a classification loss); unnormalised they
        # saturate h0, c0 and no gradient reaches the image (seen in training).
        self.image_norm = nn.LayerNorm(pooled)
        self.image_vector = nn.Linear(pooled, config.image_dim)  # the CNN's fully connected top
        self.init_h = nn.Linear(config.image_dim, config.decoder_dim)
        self.init_c = nn.Linear(config.image_dim, config.decoder_dim)
        self.embedding = nn.Embedding(
            config.vocab_size, config.embed_dim, padding_idx=config.pad_id
        )
        self.lstm = nn.LSTM(config.embed_dim, config.decoder_dim, batch_first=True)
        self.dropout = nn.Dropout(config.dropout)
        self.out = nn.Linear(config.decoder_dim, config.vocab_size)
        self.region_head = (
            nn.Linear(config.encoder_dim, config.region_classes) if config.region_classes else None
        )

    def train(self, mode: bool = True) -> ShowAndTell:
        """As ``nn.Module.train``, but a frozen encoder stays in evaluation mode, so training
        does not move its batch-norm statistics away from the ones it was trained with."""
        super().train(mode)
        if self.config.freeze_encoder:
            self.encoder.eval()
        return self

    # ----- the public step API used by multimodal_core.decoding -----

    def encode(self, images: torch.Tensor) -> ImageMemory:
        """images (B, 3, H, W) in [0, 1] -> memory of B images."""
        return ImageMemory(self.encoder(images))

    def image_vectors(self, memory: ImageMemory) -> torch.Tensor:
        """The one vector per row (R, image_dim) that is all the decoder learns of its picture."""
        features = memory.features  # (R, N, D)
        pooled = torch.cat([features.amax(1), features.mean(1)], dim=1)
        return F.relu(self.image_vector(self.image_norm(pooled)))

    def init_state(self, memory: ImageMemory) -> DecoderState:
        """h0, c0 from the image vector, the only time the decoder sees the picture. Linear, with
        no tanh: with one, training drove h0 into saturation at the same value for every picture
        (a language model's start state) and no gradient reached the image again."""
        vector = self.image_vectors(memory)
        return DecoderState(self.init_h(vector), self.init_c(vector))

    def step(self, tokens: torch.Tensor, state: DecoderState, memory: ImageMemory) -> StepOutput:
        """Feed the previous tokens (R,) and get the logits of the next ones (R, V); ``memory``
        is not read (no attention), its place in the call is the shared API's."""
        out, (h, c) = self.lstm(self.embedding(tokens)[:, None], (state.h[None], state.c[None]))
        logits = self.out(self.dropout(out[:, 0]))
        return StepOutput(logits, DecoderState(h[0], c[0]), logits.new_zeros(logits.shape[0], 1))

    # ----- training -----

    def forward(
        self,
        images: torch.Tensor,
        captions: torch.Tensor,
        region_labels: torch.Tensor | None = None,
    ) -> CaptionerOutput:
        """Teacher forcing: captions (B, T+1) = <start> w1 .. wn <end> <pad>..., loss over T
        steps, the whole sequence in one LSTM call. region_labels (B, N) long, optional: the
        class under each region, for the auxiliary loss of ``region_head``."""
        if captions.dim() != 2 or captions.shape[0] != images.shape[0] or captions.shape[1] < 2:
            raise ValueError(
                f"captions must be (B, T+1) token ids with T >= 1 and B = {images.shape[0]}, "
                f"got {tuple(captions.shape)}"
            )
        inputs, targets = captions[:, :-1], captions[:, 1:]  # (B, T) each
        memory = self.encode(images)
        state = self.init_state(memory)
        out, _ = self.lstm(self.embedding(inputs), (state.h[None], state.c[None]))  # (B, T, H)
        logits = self.out(self.dropout(out))  # (B, T, V)
        cross_entropy = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            targets.reshape(-1),
            ignore_index=self.config.pad_id,
        )
        loss, region_loss = cross_entropy, None
        if region_labels is not None:
            if self.region_head is None:
                raise ValueError("region_labels need a model with region_classes > 0")
            region_logits = self.region_head(memory.features)  # (B, N, C)
            region_loss = F.cross_entropy(region_logits.flatten(0, 1), region_labels.flatten())
            loss = loss + self.config.region_loss_weight * region_loss
        return CaptionerOutput(
            logits, logits.new_zeros(*targets.shape, 1), loss, cross_entropy, region_loss
        )
