"""Speech2Face: a voice encoder that predicts a face embedding, and a decoder that draws it.

Implements the design of Oh et al. 2019, "Speech2Face: Learning the Face Behind a Voice"
(arXiv:1905.09773): a face encoder maps a face to a feature vector; a face decoder, trained
separately, draws a normalised (front-facing, centred, neutral background) face from that vector;
a voice encoder (convolutions over a log-spectrogram, average pooling over time, two fully
connected layers) is trained with the face side frozen to predict the face feature of the same
person from their voice, with the paper's loss: an L1 distance between the normalised features
plus a distillation term that matches the face model's classifier outputs on the predicted and
true features (softmax with temperature T).

What differs from the paper, and why:
- The face encoder is learned here, with the decoder, as an autoencoder over the world's 64 x 64
  faces (random scale, offset and background), instead of a pretrained VGG-Face: nothing can be
  downloaded, and the world has no face-recognition data. Like the paper's decoder it draws the
  *normalised* face (the glyph centred at one scale on grey), so the feature need not carry the
  background or the placement, only the person.
- The embedding is L2-normalised by construction (the paper normalises inside the loss), so the
  voice encoder predicts a point on the same sphere and retrieval is a cosine similarity.
- The classifier of the distillation term is a linear attribute head (age group, gender, skin
  tone, hair) trained on the face embedding with the autoencoder, standing in for VGG-Face's
  identity classifier: there are no identities in this world, only attributes.
- The paper's extra L2 term on normalised features is dropped: with unit-norm features the L1 and
  the distillation terms already pin the prediction down (its weight was 0.025).
- Statistics pooling (mean and standard deviation over time) instead of average pooling alone.
- Gaussian noise on the embedding while training the decoder (a denoising autoencoder) so that
  the decoder draws a sensible face near, not only at, the embeddings of real faces: a voice's
  prediction lies between the faces of the people who sound alike.

Models take tensors only: log-mels come from :func:`multimodal_core.audio.log_mel`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from multimodal_core.models.checkpoint import ConfigMixin, PretrainedModel

logger = logging.getLogger(__name__)


@dataclass
class Speech2FaceConfig(ConfigMixin):
    """Hyperparameters of :class:`Speech2Face`.

    Args:
        image_size (int, defaults to 64): side of the square RGB faces in pixels.
        face_channels (tuple[int, ...], defaults to (16, 32, 64, 64)): channels of the face
            encoder's stages (each halves the resolution) and, reversed, of the decoder's.
        embed_dim (int, defaults to 64): size of the face embedding the voice must predict.
        n_mels (int, defaults to 64): mel bands of the voice input (``audio.FeatureConfig``).
        voice_channels (tuple[int, ...], defaults to (16, 32, 48, 64)): channels of the voice
            encoder's stages; each halves frequency and time.
        voice_hidden (int, defaults to 128): width of the voice encoder's fully connected layer.
        attribute_sizes (tuple[int, ...], defaults to (3, 2, 5, 7)): classes of the attribute
            head: age group, gender, skin tone, hair (see ``world.people``).
        decoder_noise (float, defaults to 0.3): norm of the Gaussian noise added to the unit
            embedding while training the decoder.
        attribute_weight (float, defaults to 0.1): weight of the attribute head's cross-entropy in
            the autoencoder's loss.
        distill_weight (float, defaults to 1.0): weight of the distillation term in the voice loss.
        distill_temperature (float, defaults to 2.0): the paper's T.
    """

    image_size: int = 64  # the world's faces; the decoder draws at the same size
    face_channels: tuple[int, ...] = (16, 32, 64, 64)  # 64 px -> 4 x 4; ~30 MMAC a face, both ways
    embed_dim: int = 64  # 75 distinct normalised faces in the world: 64 dimensions are plenty
    n_mels: int = 64  # audio.FeatureConfig's default
    voice_channels: tuple[int, ...] = (16, 32, 48, 64)  # 64 mels -> 4 bands; ~25 MMAC a 1.6 s crop
    voice_hidden: int = 128  # the paper's FC layers are 4096 wide for 4096-d targets
    attribute_sizes: tuple[int, ...] = (3, 2, 5, 7)  # age, gender, skin tone, hair
    decoder_noise: float = 0.3  # a voice's prediction lands between faces: decode near them too
    attribute_weight: float = 0.1  # shapes the embedding without outweighing reconstruction
    distill_weight: float = 1.0  # the L1 term is about 0.1-0.5 per face; KL about the same
    distill_temperature: float = 2.0  # the paper's value

    def __post_init__(self) -> None:
        self.face_channels = tuple(int(c) for c in self.face_channels)  # JSON gives lists
        self.voice_channels = tuple(int(c) for c in self.voice_channels)
        self.attribute_sizes = tuple(int(c) for c in self.attribute_sizes)
        for name in ("face_channels", "voice_channels", "attribute_sizes"):
            values = getattr(self, name)
            if not values or any(v <= 0 for v in values):
                raise ValueError(f"{name} must be a non-empty tuple of positive ints, got {values}")
        if self.image_size % (2 ** len(self.face_channels)) != 0:
            raise ValueError(
                f"image_size ({self.image_size}) must be divisible by 2 ** len(face_channels) "
                f"({2 ** len(self.face_channels)})"
            )
        if self.n_mels % (2 ** len(self.voice_channels)) != 0:
            raise ValueError(
                f"n_mels ({self.n_mels}) must be divisible by 2 ** len(voice_channels) "
                f"({2 ** len(self.voice_channels)})"
            )
        for name in ("embed_dim", "voice_hidden"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("decoder_noise", "attribute_weight", "distill_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.distill_temperature <= 0:
            raise ValueError(f"distill_temperature must be > 0, got {self.distill_temperature}")

    @property
    def grid_size(self) -> int:
        """Side of the face encoder's last feature map."""
        return self.image_size // 2 ** len(self.face_channels)


@dataclass
class FaceAutoencoderOutput:
    """What :meth:`Speech2Face.face_autoencoder` returns."""

    embedding: torch.Tensor  # (B, D) unit norm
    reconstruction: torch.Tensor  # (B, 3, S, S) in [0, 1]
    attribute_logits: list[torch.Tensor]  # one (B, n_k) per attribute
    loss: torch.Tensor | None = None
    reconstruction_loss: torch.Tensor | None = None
    attribute_loss: torch.Tensor | None = None


@dataclass
class VoiceOutput:
    """What :meth:`Speech2Face.forward` returns: the predicted embedding and the drawn face."""

    embedding: torch.Tensor  # (B, D) unit norm
    face: torch.Tensor | None  # (B, 3, S, S) in [0, 1], None when not drawn
    loss: torch.Tensor | None = None
    l1_loss: torch.Tensor | None = None
    distill_loss: torch.Tensor | None = None


def _conv_bn_relu(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


class FaceEncoder(nn.Module):
    """A face (B, 3, S, S) in [0, 1] -> a unit embedding (B, D)."""

    def __init__(self, config: Speech2FaceConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c_out in config.face_channels:
            layers += _conv_bn_relu(c_in, c_out, 2) + _conv_bn_relu(c_out, c_out, 1)
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.project = nn.Linear(c_in * config.grid_size**2, config.embed_dim)

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        x = self.features(faces * 2.0 - 1.0)  # (B, C, g, g)
        return F.normalize(self.project(x.flatten(1)), dim=-1)  # (B, D)


class FaceDecoder(nn.Module):
    """A unit embedding (B, D) -> a normalised face (B, 3, S, S) in [0, 1]."""

    def __init__(self, config: Speech2FaceConfig) -> None:
        super().__init__()
        channels = config.face_channels[::-1]
        self.grid = config.grid_size
        self.scale = config.embed_dim**0.5  # unit vectors have entries of about 1 / sqrt(D)
        self.expand = nn.Linear(config.embed_dim, channels[0] * self.grid**2)
        layers: list[nn.Module] = []
        c_in = channels[0]
        for c_out in channels[1:]:
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),  # no checkerboard of transposed convs
                *_conv_bn_relu(c_in, c_out, 1),
            ]
            c_in = c_out
        # The last doubling goes straight to RGB: a wide layer at full size costs the most.
        layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, 3, 3, padding=1)]
        self.draw = nn.Sequential(*layers)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.expand(embedding * self.scale))  # (B, C * g * g)
        x = x.view(x.shape[0], -1, self.grid, self.grid)  # (B, C, g, g)
        return torch.sigmoid(self.draw(x))  # (B, 3, S, S)


class VoiceEncoder(nn.Module):
    """A log-mel spectrogram in dB (B, n_mels, T), any T >= 16 -> a unit embedding (B, D).

    Convolutions over frequency and time, pooling over time (so any length works), then two
    fully connected layers, as in the paper's voice encoder. The pooling keeps the standard
    deviation over time beside the mean (x-vector statistics pooling): how much the spectrum
    moves says how fast someone speaks, which tells older from adult voices in this world.
    """

    def __init__(self, config: Speech2FaceConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for c_out in config.voice_channels:
            # Stride 2 first, then a 3 x 3 at that resolution: the spectrogram is large, so
            # halving before the wider convolution keeps a CPU step cheap.
            layers += _conv_bn_relu(c_in, c_out, 2) + _conv_bn_relu(c_out, c_out, 1)
            c_in = c_out
        self.features = nn.Sequential(*layers)
        bands = config.n_mels // 2 ** len(config.voice_channels)
        self.head = nn.Sequential(
            nn.Linear(2 * c_in * bands, config.voice_hidden),
            nn.ReLU(inplace=True),
            nn.Linear(config.voice_hidden, config.embed_dim),
        )
        self.min_frames = 2 ** len(config.voice_channels)

    def forward(self, log_mel_db: torch.Tensor) -> torch.Tensor:
        if log_mel_db.ndim != 3 or log_mel_db.shape[-1] < self.min_frames:
            raise ValueError(
                f"expected log-mels (B, n_mels, T) with T >= {self.min_frames}, "
                f"got {tuple(log_mel_db.shape)}"
            )
        x = (log_mel_db / 40.0 + 1.0).unsqueeze(1)  # dB in [-80, 0] -> [-1, 1]; (B, 1, M, T)
        x = self.features(x)  # (B, C, M / 2^k, T / 2^k)
        x = x.flatten(1, 2)  # (B, C * M / 2^k, T / 2^k)
        x = torch.cat([x.mean(dim=-1), x.std(dim=-1)], dim=-1)  # (B, 2 * C * M / 2^k)
        return F.normalize(self.head(x), dim=-1)  # (B, D)


class Speech2Face(PretrainedModel):
    """Face encoder, face decoder, attribute head and voice encoder of one world.

    ``forward(log_mels)`` is the voice-to-face path used at inference; the two training stages
    call :meth:`face_autoencoder` and :meth:`forward` with targets.
    """

    config_class = Speech2FaceConfig

    def __init__(self, config: Speech2FaceConfig) -> None:
        super().__init__()
        self.config = config
        self.face_encoder = FaceEncoder(config)
        self.face_decoder = FaceDecoder(config)
        self.attribute_head = nn.Linear(config.embed_dim, sum(config.attribute_sizes))
        self.voice_encoder = VoiceEncoder(config)

    def attributes(self, embedding: torch.Tensor) -> list[torch.Tensor]:
        """Logits per attribute (age, gender, skin, hair) read from embeddings (B, D)."""
        return list(self.attribute_head(embedding).split(self.config.attribute_sizes, dim=-1))

    def draw(self, embedding: torch.Tensor) -> torch.Tensor:
        """The normalised face (B, 3, S, S) in [0, 1] of embeddings (B, D)."""
        return self.face_decoder(embedding)

    def face_autoencoder(
        self,
        faces: torch.Tensor,
        normalised_faces: torch.Tensor | None = None,
        attributes: torch.Tensor | None = None,
    ) -> FaceAutoencoderOutput:
        """Stage 1: faces (B, 3, S, S) -> embedding -> the normalised face.

        With targets (the normalised faces, and attribute labels (B, 4) long), the loss is the L1
        reconstruction plus ``attribute_weight`` times the attribute cross-entropy.
        """
        embedding = self.face_encoder(faces)  # (B, D)
        decoder_input = embedding
        if self.training and self.config.decoder_noise > 0:
            noise = torch.randn_like(embedding) * (
                self.config.decoder_noise / embedding.shape[1] ** 0.5
            )
            decoder_input = F.normalize(embedding + noise, dim=-1)
        reconstruction = self.face_decoder(decoder_input)
        logits = self.attributes(embedding)
        if normalised_faces is None or attributes is None:
            return FaceAutoencoderOutput(embedding, reconstruction, logits)
        rec = F.l1_loss(reconstruction, normalised_faces)
        attr = sum(F.cross_entropy(lg, attributes[:, k]) for k, lg in enumerate(logits))
        attr = attr / len(logits)
        loss = rec + self.config.attribute_weight * attr
        return FaceAutoencoderOutput(embedding, reconstruction, logits, loss, rec, attr)

    def forward(
        self,
        log_mel_db: torch.Tensor,
        target_embedding: torch.Tensor | None = None,
        draw: bool = True,
    ) -> VoiceOutput:
        """Stage 2 and inference: log-mels (B, n_mels, T) -> predicted embedding -> face.

        With ``target_embedding`` (B, D), the frozen face encoder's embedding of the same
        person's face, the loss is the paper's: L1 between the (unit) embeddings plus
        ``distill_weight`` times T^2 KL(softmax(head(face)/T) || softmax(head(voice)/T)) summed
        over the attributes.
        """
        embedding = self.voice_encoder(log_mel_db)  # (B, D)
        face = self.face_decoder(embedding) if draw else None
        if target_embedding is None:
            return VoiceOutput(embedding, face)
        l1 = (embedding - target_embedding).abs().sum(dim=-1).mean()
        t = self.config.distill_temperature
        distill = embedding.new_zeros(())
        teacher_logits = self.attributes(target_embedding.detach())
        for student, teacher in zip(self.attributes(embedding), teacher_logits, strict=True):
            distill = distill + F.kl_div(
                F.log_softmax(student / t, dim=-1),
                F.log_softmax(teacher / t, dim=-1),
                log_target=True,
                reduction="batchmean",
            ) * (t * t)
        loss = l1 + self.config.distill_weight * distill
        return VoiceOutput(embedding, face, loss, l1, distill)
