"""Show, Attend and Tell: a CNN encoder and an LSTM decoder with soft attention.

Implements Xu et al. 2015, "Show, Attend and Tell: Neural Image Caption Generation with Visual
Attention" (arXiv:1502.03044): soft (additive, Bahdanau-style) attention over a grid of region
features, the gating scalar beta that scales the context vector, the deep output layer, hidden
and cell states initialised from the mean region feature, and the doubly stochastic attention
regulariser lambda * sum_i (1 - sum_t alpha_ti)^2.

What differs from the paper, and why:
- The encoder is a small CNN trained from scratch (nothing can be downloaded here) instead of a
  pretrained VGG; the synthetic world is simple enough for it.
- Two coordinate channels (x, y in [-1, 1]) are appended to the region features before the
  projection, so words about position ("on the left", "above") can read where a region is.
- The regulariser is averaged over regions and images (as in the popular PyTorch tutorial),
  not summed, so its weight does not depend on the grid size.
- Optional training-only supervision (``region_classes > 0``): a linear head on the region
  features names the world class under each region, with a cross-entropy added to the loss.
  The synthetic world knows every object's mask, and this dense signal teaches the encoder what
  the objects are far sooner than the caption loss alone does on one CPU core. The decoder, the
  attention and inference are unchanged; the head is not used to caption.

The public step API (:meth:`ShowAttendTell.encode`, :meth:`~ShowAttendTell.init_state`,
:meth:`~ShowAttendTell.step`) is what ``multimodal_core.decoding`` drives for greedy and beam
search; ``forward`` runs the same step with teacher forcing for training.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from multimodal_core.models.checkpoint import ConfigMixin, PretrainedModel, read_json, write_json

logger = logging.getLogger(__name__)

VOCAB_NAME = "vocab.json"

PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIAL_TOKENS = (PAD, START, END, UNK)  # ids 0, 1, 2, 3 in every vocabulary


@dataclass
class ShowAttendTellConfig(ConfigMixin):
    """Hyperparameters of :class:`ShowAttendTell`.

    Args:
        vocab_size (int): number of tokens, the four special tokens included.
        pad_id, start_id, end_id, unk_id (int, defaults to 0, 1, 2, 3): ids of the special tokens.
        image_size (int, defaults to 96): side of the square RGB input in pixels.
        encoder_channels (tuple[int, ...], defaults to (24, 48, 128)): channels of the encoder
            stages; each stage halves the resolution, so the grid side is
            ``image_size / 2 ** len(encoder_channels)``.
        encoder_dim (int, defaults to 128): size of one region feature after projection.
        embed_dim (int, defaults to 64): word embedding size (also the deep-output size).
        attention_dim (int, defaults to 128): hidden size of the additive attention.
        decoder_dim (int, defaults to 256): LSTM hidden size.
        dropout (float, defaults to 0.1): dropout before the output layer.
        doubly_stochastic_weight (float, defaults to 1.0): lambda of the attention regulariser.
        max_length (int, defaults to 40): default decoding limit in tokens, <end> included.
        region_classes (int, defaults to 0): when > 0, a linear head on the region features
            predicts which class (0 = background) covers each region; trained with an
            auxiliary cross-entropy when ``forward`` gets region labels, unused at inference.
        region_loss_weight (float, defaults to 1.0): weight of that auxiliary loss.
    """

    vocab_size: int
    pad_id: int = 0  # the Vocabulary class puts the special tokens first
    start_id: int = 1
    end_id: int = 2
    unk_id: int = 3
    image_size: int = 96  # the world renders at 96-128 px; 96 trains about 1.8x faster
    encoder_channels: tuple[int, ...] = (24, 48, 128)  # 3 halvings: 96 px -> 12 x 12 regions
    encoder_dim: int = 128  # enough for ~30 object classes and backgrounds
    embed_dim: int = 64  # the world's vocabulary is under 200 words
    attention_dim: int = 128  # the paper ties it to the feature size; small grids need less
    decoder_dim: int = 256  # the prototype's size: learns the grammar in minutes on a CPU
    dropout: float = 0.1  # mild: freshly rendered scenes already regularise
    doubly_stochastic_weight: float = 1.0  # the paper's lambda (tutorial scaling, see docstring)
    max_length: int = 40  # the longest world caption has 32 words
    region_classes: int = 0  # > 0: a training-only head names the class under each region
    region_loss_weight: float = 1.0  # weight of that auxiliary loss when labels are given

    def __post_init__(self) -> None:
        self.encoder_channels = tuple(int(c) for c in self.encoder_channels)  # JSON gives lists
        specials = (self.pad_id, self.start_id, self.end_id, self.unk_id)
        if self.vocab_size < len(SPECIAL_TOKENS) + 1:
            raise ValueError(
                f"vocab_size must be at least 5 (4 special tokens + a word), got {self.vocab_size}"
            )
        if len(set(specials)) != 4 or not all(0 <= i < self.vocab_size for i in specials):
            raise ValueError(f"special token ids must be distinct and < vocab_size, got {specials}")
        if not self.encoder_channels or any(c <= 0 for c in self.encoder_channels):
            raise ValueError(f"encoder_channels must be positive, got {self.encoder_channels}")
        if self.image_size % (2 ** len(self.encoder_channels)) != 0:
            raise ValueError(
                f"image_size ({self.image_size}) must be divisible by 2 ** len(encoder_channels) "
                f"({2 ** len(self.encoder_channels)})"
            )
        for name in ("encoder_dim", "embed_dim", "attention_dim", "decoder_dim", "max_length"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.region_classes < 0 or self.region_loss_weight < 0:
            raise ValueError("region_classes and region_loss_weight must be >= 0")
        if self.doubly_stochastic_weight < 0:
            raise ValueError(
                f"doubly_stochastic_weight must be >= 0, got {self.doubly_stochastic_weight}"
            )

    @property
    def grid_size(self) -> int:
        """Side of the region grid the decoder attends over."""
        return self.image_size // 2 ** len(self.encoder_channels)

    @property
    def num_regions(self) -> int:
        return self.grid_size**2


class Vocabulary:
    """Words <-> ids; the four special tokens come first (ids 0-3)."""

    def __init__(self, words: Sequence[str]) -> None:
        words = list(words)
        if tuple(words[:4]) != SPECIAL_TOKENS:
            raise ValueError(f"a vocabulary must start with {SPECIAL_TOKENS}")
        if len(set(words)) != len(words):
            raise ValueError("a vocabulary must not repeat a word")
        self.words = words
        self.index = {w: i for i, w in enumerate(words)}

    def __len__(self) -> int:
        return len(self.words)

    @staticmethod
    def tokenize(sentence: str) -> list[str]:
        """Lower-case words; punctuation is dropped (the world's captions end with no stop)."""
        return re.findall(r"[a-z0-9']+", sentence.lower())

    @classmethod
    def build(cls, sentences: Iterable[str], min_count: int = 1) -> Vocabulary:
        """Every word seen at least ``min_count`` times, sorted so the ids are reproducible."""
        counts: dict[str, int] = {}
        for sentence in sentences:
            for word in cls.tokenize(sentence):
                counts[word] = counts.get(word, 0) + 1
        kept = sorted(w for w, n in counts.items() if n >= min_count and w not in SPECIAL_TOKENS)
        return cls([*SPECIAL_TOKENS, *kept])

    def encode(self, sentence: str, max_length: int | None = None) -> list[int]:
        """<start> w1 ... wn <end>, words cut so that at most ``max_length`` follow <start>."""
        ids = [self.index.get(w, self.index[UNK]) for w in self.tokenize(sentence)]
        if max_length is not None:
            ids = ids[: max_length - 1]
        return [self.index[START], *ids, self.index[END]]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Words of ``ids``, stopping at <end> and skipping <start>/<pad>."""
        out = []
        for i in ids:
            word = self.words[int(i)]
            if word == END:
                break
            if word not in (START, PAD):
                out.append(word)
        return out

    def save(self, directory: str | os.PathLike) -> None:
        write_json(directory, VOCAB_NAME, {"words": self.words}, indent=0)

    @classmethod
    def from_pretrained(cls, path_or_repo: str | os.PathLike) -> Vocabulary:
        """Read vocab.json from a checkpoint folder or a Hub repository."""
        return cls(read_json(path_or_repo, VOCAB_NAME)["words"])


@dataclass
class EncoderMemory:
    """What the decoder attends over, computed once per image.

    features: (B, N, encoder_dim) region features; keys: (B, N, attention_dim) their attention
    projections, precomputed so each decoding step only projects the hidden state. beams: the
    decoding rows per image (row r reads image r // beams), so beam search shares one memory
    among an image's k beams instead of copying it k times.
    """

    features: torch.Tensor
    keys: torch.Tensor
    beams: int = 1

    def repeat_interleave(self, k: int) -> EncoderMemory:
        """Each image's memory for k rows in a row: rows b*k .. b*k+k-1 read image b."""
        return EncoderMemory(self.features, self.keys, self.beams * k)

    def index_select(self, rows: torch.Tensor) -> EncoderMemory:
        """The memory of ``rows``. Whole groups of an image's beams (beam search dropping the
        images that are done) keep sharing it; any other choice of rows gets a row each."""
        images = rows // self.beams
        beams = 1
        if self.beams > 1 and rows.numel() % self.beams == 0:
            groups = rows.view(-1, self.beams)
            whole = groups[:, :1] + torch.arange(self.beams, device=rows.device)
            if bool((groups[:, 0] % self.beams == 0).all()) and torch.equal(groups, whole):
                images, beams = groups[:, 0] // self.beams, self.beams
        return EncoderMemory(
            self.features.index_select(0, images), self.keys.index_select(0, images), beams
        )


@dataclass
class DecoderState:
    """LSTM state, one row per sequence being decoded: h, c (R, decoder_dim)."""

    h: torch.Tensor
    c: torch.Tensor

    def index_select(self, rows: torch.Tensor) -> DecoderState:
        """The states of ``rows`` (beam search reorders them every step)."""
        return DecoderState(self.h.index_select(0, rows), self.c.index_select(0, rows))


@dataclass
class StepOutput:
    """One decoding step: logits (R, V), the new state, attention weights alpha (R, N)."""

    logits: torch.Tensor
    state: DecoderState
    attention: torch.Tensor


@dataclass
class CaptionerOutput:
    """Teacher-forced pass: logits (B, T, V), attention (B, T, N), loss (scalar)."""

    logits: torch.Tensor
    attention: torch.Tensor
    loss: torch.Tensor
    cross_entropy: torch.Tensor
    region_loss: torch.Tensor | None = None


def _conv_bn_relu(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


class Encoder(nn.Module):
    """A small CNN to a grid of region features, with coordinate channels."""

    def __init__(self, config: ShowAttendTellConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c_out in config.encoder_channels:  # each stage: stride-2 conv, then a 3x3 conv
            layers += _conv_bn_relu(c_in, c_out, 2) + _conv_bn_relu(c_out, c_out, 1)
            c_in = c_out
        self.cnn = nn.Sequential(*layers)
        self.project = nn.Conv2d(c_in + 2, config.encoder_dim, 1)
        g = config.grid_size
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, g), torch.linspace(-1, 1, g), indexing="ij")
        self.register_buffer(
            "coords", torch.stack([xs, ys])[None], persistent=False
        )  # (1, 2, g, g)
        self.image_size = config.image_size

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) in [0, 1] -> region features (B, N, encoder_dim)."""
        if images.dim() != 4 or images.shape[1] != 3 or images.shape[-2:] != (self.image_size,) * 2:
            raise ValueError(
                f"expected images of shape (B, 3, {self.image_size}, {self.image_size}), "
                f"got {tuple(images.shape)}"
            )
        x = self.cnn(images * 2.0 - 1.0)  # (B, C, g, g)
        coords = self.coords.to(x.dtype).expand(x.shape[0], -1, -1, -1)
        x = F.relu(self.project(torch.cat([x, coords], 1)))  # (B, D, g, g)
        return x.flatten(2).transpose(1, 2)  # (B, N, D)


ATTENTION_CHUNK_ROWS = 8  # 8 x 144 x 128 floats = 0.6 MB: stays in a CPU core's L2 cache


class Attention(nn.Module):
    """Additive attention: alpha = softmax(w^T tanh(W_e e_i + W_h h))."""

    def __init__(self, config: ShowAttendTellConfig) -> None:
        super().__init__()
        self.encoder_proj = nn.Linear(config.encoder_dim, config.attention_dim)
        self.decoder_proj = nn.Linear(config.decoder_dim, config.attention_dim)
        self.score = nn.Linear(config.attention_dim, 1)

    def forward(self, memory: EncoderMemory, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """h (R, decoder_dim), R = B * beams -> context (R, encoder_dim), alpha (R, N)."""
        images, regions, _ = memory.keys.shape
        query = self.decoder_proj(h).view(images, memory.beams, 1, -1)  # (B, beams, 1, A)
        keys = memory.keys[:, None]  # (B, 1, N, A): shared by an image's beams, never copied
        if torch.is_grad_enabled() or h.shape[0] <= ATTENTION_CHUNK_ROWS:
            scores = self.score(torch.tanh(keys + query)).squeeze(-1)  # (B, beams, N)
        else:  # inference on many rows: chunks whose (rows, N, A) energy stays in the cache
            step = max(1, ATTENTION_CHUNK_ROWS // memory.beams)  # images per chunk
            scores = torch.cat(
                [
                    self.score(torch.tanh(keys[i : i + step] + query[i : i + step])).squeeze(-1)
                    for i in range(0, images, step)
                ]
            )
        alpha = torch.softmax(scores, dim=-1)  # (B, beams, N)
        context = torch.bmm(alpha, memory.features)  # (B, beams, D)
        return context.view(h.shape[0], -1), alpha.view(h.shape[0], regions)


class Decoder(nn.Module):
    """LSTM decoder with the gating scalar beta and the paper's deep output layer."""

    def __init__(self, config: ShowAttendTellConfig) -> None:
        super().__init__()
        self.embedding = nn.Embedding(
            config.vocab_size, config.embed_dim, padding_idx=config.pad_id
        )
        self.attention = Attention(config)
        self.init_h = nn.Linear(config.encoder_dim, config.decoder_dim)
        self.init_c = nn.Linear(config.encoder_dim, config.decoder_dim)
        self.gate = nn.Linear(config.decoder_dim, 1)  # beta = sigmoid(f_beta(h_{t-1}))
        self.lstm = nn.LSTMCell(config.embed_dim + config.encoder_dim, config.decoder_dim)
        self.out_h = nn.Linear(config.decoder_dim, config.embed_dim)  # L_h
        self.out_z = nn.Linear(config.encoder_dim, config.embed_dim, bias=False)  # L_z
        self.dropout = nn.Dropout(config.dropout)
        self.out = nn.Linear(config.embed_dim, config.vocab_size)  # L_o


class ShowAttendTell(PretrainedModel):
    """Image captioner: :class:`Encoder` + :class:`Decoder`, driven step by step."""

    config_class = ShowAttendTellConfig
    # from_pretrained returns channels_last: the CPU convolutions run about 1.3x faster, CUDA's
    # are no slower.
    memory_format = torch.channels_last

    def __init__(self, config: ShowAttendTellConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        # Training-only auxiliary head (see the module docstring); None when not configured.
        self.region_head = (
            nn.Linear(config.encoder_dim, config.region_classes) if config.region_classes else None
        )

    # ----- the public step API used by multimodal_core.decoding -----

    def encode(self, images: torch.Tensor) -> EncoderMemory:
        """images (B, 3, H, W) in [0, 1] -> memory of B images."""
        features = self.encoder(images)  # (B, N, D)
        return EncoderMemory(features, self.decoder.attention.encoder_proj(features))

    def init_state(self, memory: EncoderMemory) -> DecoderState:
        """h0, c0 from the mean region feature, as in the paper."""
        mean = memory.features.mean(dim=1)  # (B, D)
        if memory.beams > 1:
            mean = mean.repeat_interleave(memory.beams, 0)  # (R, D)
        return DecoderState(
            torch.tanh(self.decoder.init_h(mean)), torch.tanh(self.decoder.init_c(mean))
        )

    def step(self, tokens: torch.Tensor, state: DecoderState, memory: EncoderMemory) -> StepOutput:
        """Feed the previous tokens (R,) and get the logits of the next ones (R, V)."""
        d = self.decoder
        embedded = d.embedding(tokens)  # (R, E)
        context, alpha = d.attention(memory, state.h)  # (R, D), (R, N)
        gated = torch.sigmoid(d.gate(state.h)) * context  # (R, D)
        h, c = d.lstm(torch.cat([embedded, gated], dim=1), (state.h, state.c))
        deep = embedded + d.out_h(h) + d.out_z(gated)  # (R, E): E y_{t-1} + L_h h_t + L_z z_t
        logits = d.out(d.dropout(deep))  # (R, V)
        return StepOutput(logits, DecoderState(h, c), alpha)

    # ----- training -----

    def forward(
        self,
        images: torch.Tensor,
        captions: torch.Tensor,
        region_labels: torch.Tensor | None = None,
    ) -> CaptionerOutput:
        """Teacher forcing: captions (B, T+1) = <start> w1 .. wn <end> <pad>..., loss over T steps.

        Captions are both the decoder's inputs and its targets, so the loss is always returned.
        region_labels (B, N) long, optional: the class under each region (0 = background), for
        the auxiliary loss of ``region_head``.
        """
        if captions.dim() != 2 or captions.shape[0] != images.shape[0] or captions.shape[1] < 2:
            raise ValueError(
                f"captions must be (B, T+1) token ids with T >= 1 and B = {images.shape[0]}, "
                f"got {tuple(captions.shape)}"
            )
        inputs, targets = captions[:, :-1], captions[:, 1:]  # (B, T) each
        memory = self.encode(images)
        state = self.init_state(memory)
        logits, alphas = [], []
        for t in range(inputs.shape[1]):
            out = self.step(inputs[:, t], state, memory)
            state = out.state
            logits.append(out.logits)
            alphas.append(out.attention)
        logits_t = torch.stack(logits, 1)  # (B, T, V)
        alpha_t = torch.stack(alphas, 1)  # (B, T, N)
        mask = (targets != self.config.pad_id).to(alpha_t.dtype)  # (B, T)
        cross_entropy = F.cross_entropy(
            logits_t.reshape(-1, logits_t.shape[-1]),
            targets.reshape(-1),
            ignore_index=self.config.pad_id,
        )
        coverage = (alpha_t * mask[:, :, None]).sum(dim=1)  # (B, N): sum over real steps
        regulariser = ((1.0 - coverage) ** 2).mean()
        loss = cross_entropy + self.config.doubly_stochastic_weight * regulariser
        region_loss = None
        if region_labels is not None:
            if self.region_head is None:
                raise ValueError("region_labels need a model with region_classes > 0")
            region_logits = self.region_head(memory.features)  # (B, N, C)
            region_loss = F.cross_entropy(region_logits.flatten(0, 1), region_labels.flatten())
            loss = loss + self.config.region_loss_weight * region_loss
        return CaptionerOutput(logits_t, alpha_t, loss, cross_entropy, region_loss)
