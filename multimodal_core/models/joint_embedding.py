"""A joint image-text space: two frozen unimodal encoders joined by learned projections.

The lecture's joint embedding (Frome et al. 2013, DeViSE; Kiros et al. 2014; Faghri et al. 2018,
VSE++) with the semantic regularization of the recipe paper (Salvador et al. 2017, "Learning
Cross-modal Embeddings for Cooking Recipes and Food Images", arXiv:1810.06553): both sides are
projected to unit vectors of one space, a metric-learning loss pulls a picture and its caption
together and pushes the others in the batch apart, and one classifier **shared by both sides**
must name the scene's object classes from either embedding, so that a picture and a sentence
about the same objects land in the same region of the space.

What differs from the papers, and why:
- The pretrained encoders are the project's own (nothing can be downloaded): the image side reads
  the frozen world classifier's last 4 x 4 feature map (``models/world_classifier.py``), the text
  side the frozen skip-gram vectors (``models/word_vectors.py``). This module holds only what is
  trained here, so its checkpoint stays small and no model file imports another: the caller
  (:class:`JointSpace`, built by the task or the evaluation) feeds it the frozen features.
- The image head keeps the grid (each cell reduced by a 1 x 1 convolution, then flattened), not
  only the pooled vector: captions say "in the top left" and "to the left of", which a pooled
  feature cannot tell apart.
- The text encoder is a bidirectional GRU over the word vectors (its last states both ways and
  its mean state), not a bag of words: "a dog to the left of a cat" and "a cat to the left of a
  dog" hold the same words. A ``"sentence"`` input instead takes one vector per text (the MiniLM
  ablation) through a two-layer projection.
- The loss is a symmetric InfoNCE with a learned temperature (as CLIP), not VSE++'s hinge on the
  hardest negative: many world scenes share their content, so the hardest "negative" in a batch is
  often a true match, and a max-violation loss would push exactly those apart; softmax spreads the
  weight over every negative. Pairs known to match (identical captions) are masked out as
  negatives.
- The shared classifier's weight vectors are the labels' own embeddings (the text encoder run
  on "dog", "cat", "blue"...; DeViSE's idea), with a fixed scale and a bias per label, instead
  of free parameters: the regularization then also puts the words where their pictures are, so
  the space's own words tag a picture and "picture - dog + cat" has a "dog" to subtract. The
  scale is fixed at a moderate value because a learned one grew to 26 and left every word at a
  cosine of 0.1-0.3 from its pictures: subtracting and adding whole word vectors then swamped
  the rest of the picture (its background came through the arithmetic half the time). The labels
  are the object classes and the background words (the background is what a caption states
  besides the objects). Multi-label (a scene holds 1-4 objects), binary cross-entropy on each
  side's own targets: the picture's classes and background, and those its caption names (a
  relation caption names two objects; "a picture of a dog" no background).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from multimodal_core.models.checkpoint import ConfigMixin, PretrainedModel

TEXT_INPUTS: tuple[str, ...] = ("words", "sentence")


@dataclass
class JointEmbeddingConfig(ConfigMixin):
    """Hyperparameters of :class:`JointEmbedding`.

    Args:
        class_names (tuple[str, ...]): the world's object classes: the shared classifier's
            first labels, and a picture's tags.
        background_names (tuple[str, ...], defaults to ()): the background words, the shared
            classifier's last labels (a scene's background is part of what it is about).
        feature_dim (int, defaults to 256): channels of the frozen image feature map.
        grid (int, defaults to 4): side of that map (the world classifier: 64 px -> 4 x 4).
        cell_dim (int, defaults to 32): each cell's size after the 1 x 1 reduction.
        text_input (str, defaults to "words"): "words" (a sequence of word vectors through a
            bidirectional GRU) or "sentence" (one vector per text through a projection).
        word_dim (int, defaults to 128): size of a word vector (or of a sentence vector).
        text_hidden (int, defaults to 128): the GRU's state size in each direction.
        hidden_dim (int, defaults to 384): width of both projections' hidden layer.
        embed_dim (int, defaults to 256): size of the joint space.
        temperature (float, defaults to 0.07): initial softmax temperature of the logits.
        semantic_weight (float, defaults to 1.0): weight of the shared classifier's loss
            (0: the ablation without semantic regularization).
        class_scale (float, defaults to 10.0): the shared classifier's fixed logit scale on
            the cosine similarity to a label's embedding (see the model's docstring).
        image_encoder (str, defaults to "world_classifier"): the checkpoint folder of the frozen
            image encoder this space was trained on (recorded so callers compose the same one).
        text_vectors (str, defaults to "words"): the checkpoint folder (or, for a sentence
            input, the encoder) of the frozen text side.
    """

    class_names: tuple[str, ...]
    background_names: tuple[str, ...] = ()
    feature_dim: int = 256  # the world classifier's last stage
    grid: int = 4  # its 64 px input halved four times
    cell_dim: int = 32  # 16 cells x 32 = 512 numbers: where things are, cheaply
    text_input: str = "words"
    word_dim: int = 128  # the shipped skip-gram vectors are 128-d
    text_hidden: int = 128  # captions are short (at most about 20 words)
    hidden_dim: int = 384  # about 0.9 M parameters in all, 1.8 MB in float16
    embed_dim: int = 256
    temperature: float = 0.07  # CLIP's initial value; learned
    semantic_weight: float = 1.0
    class_scale: float = 10.0  # a label's cosine must change by ~0.6 to go from 0.1 to 0.9
    image_encoder: str = "world_classifier"
    text_vectors: str = "words"

    def __post_init__(self) -> None:
        self.class_names = tuple(str(c) for c in self.class_names)  # JSON gives lists
        self.background_names = tuple(str(b) for b in self.background_names)
        if len(self.class_names) < 2 or len(set(self.label_names)) != len(self.label_names):
            raise ValueError("class_names (at least two) and background_names must be distinct")
        if self.text_input not in TEXT_INPUTS:
            raise ValueError(f"text_input must be one of {TEXT_INPUTS}, got {self.text_input!r}")
        sizes = (self.feature_dim, self.grid, self.cell_dim, self.word_dim, self.text_hidden,
                 self.hidden_dim, self.embed_dim)  # fmt: skip
        if any(s <= 0 for s in sizes):
            raise ValueError(f"every size must be positive: {self}")
        if not 0.0 < self.temperature < 1.0:
            raise ValueError(f"temperature must be in (0, 1), got {self.temperature}")
        if self.semantic_weight < 0:
            raise ValueError(f"semantic_weight must be >= 0, got {self.semantic_weight}")
        if self.class_scale <= 0:
            raise ValueError(f"class_scale must be positive, got {self.class_scale}")

    @property
    def label_names(self) -> tuple[str, ...]:
        """The shared classifier's labels: the object classes, then the background words."""
        return self.class_names + self.background_names


@dataclass
class JointEmbeddingOutput:
    """images (B, E) and texts (B, E) unit vectors; the losses when targets are given."""

    images: torch.Tensor
    texts: torch.Tensor
    loss: torch.Tensor | None = None
    contrastive: torch.Tensor | None = None
    semantic: torch.Tensor | None = None


def _projection(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.LayerNorm(d_in), nn.Linear(d_in, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, d_out)
    )


class ImageHead(nn.Module):
    """Frozen feature map (B, D, g, g) -> joint embedding (B, E): each cell reduced, the grid
    flattened beside the pooled feature, then a two-layer projection."""

    def __init__(self, config: JointEmbeddingConfig) -> None:
        super().__init__()
        self.config = config
        self.cells = nn.Sequential(nn.Conv2d(config.feature_dim, config.cell_dim, 1), nn.ReLU())
        d_in = config.grid**2 * config.cell_dim + config.feature_dim
        self.project = _projection(d_in, config.hidden_dim, config.embed_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        c = self.config
        if features.dim() != 4 or features.shape[1:] != (c.feature_dim, c.grid, c.grid):
            raise ValueError(
                f"expected image features (B, {c.feature_dim}, {c.grid}, {c.grid}), "
                f"got {tuple(features.shape)}"
            )
        features = features.float()
        cells = self.cells(features).flatten(1)  # (B, g * g * cell_dim)
        pooled = features.mean(dim=(2, 3))  # (B, D)
        return self.project(torch.cat([cells, pooled], dim=1))


class TextEncoder(nn.Module):
    """Word vectors (B, T, d) with their lengths -> joint embedding (B, E): a bidirectional GRU,
    its last state each way and its mean state over the words, then a projection. With a
    "sentence" input, T is 1 and the vector goes straight to the projection."""

    def __init__(self, config: JointEmbeddingConfig) -> None:
        super().__init__()
        self.config = config
        if config.text_input == "words":
            self.gru: nn.GRU | None = nn.GRU(
                config.word_dim, config.text_hidden, batch_first=True, bidirectional=True
            )
            d_in = 4 * config.text_hidden  # last states (2 H) + mean of the outputs (2 H)
        else:
            self.gru = None
            d_in = config.word_dim
        self.project = _projection(d_in, config.hidden_dim, config.embed_dim)

    def forward(self, vectors: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if vectors.dim() != 3 or vectors.shape[-1] != self.config.word_dim:
            raise ValueError(
                f"expected word vectors (B, T, {self.config.word_dim}), got {tuple(vectors.shape)}"
            )
        if len(lengths) != len(vectors) or bool((lengths < 1).any()):
            raise ValueError("every text needs at least one word vector")
        vectors = vectors.float()
        if self.gru is None:
            return self.project(vectors[:, 0])
        packed = pack_padded_sequence(
            vectors, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        outputs, last = self.gru(packed)  # last: (2, B, H)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True)  # (B, T', 2 H), zeros padded
        mean = outputs.sum(1) / lengths.to(outputs.device, outputs.dtype)[:, None]
        return self.project(torch.cat([last[0], last[1], mean], dim=1))


class JointEmbedding(PretrainedModel):
    """Image head + text encoder into one space, a learned temperature, a shared classifier."""

    config_class = JointEmbeddingConfig

    def __init__(self, config: JointEmbeddingConfig) -> None:
        super().__init__()
        self.config = config
        self.image_head = ImageHead(config)
        self.text_encoder = TextEncoder(config)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / config.temperature)))
        # The shared classifier: logit = class_scale * cos(x, label's embedding) + class_bias.
        self.class_bias = nn.Parameter(torch.full((len(config.label_names),), -3.0))  # rare

    def encode_images(self, features: torch.Tensor) -> torch.Tensor:
        """(B, D, g, g) frozen features -> (B, E) unit vectors."""
        return F.normalize(self.image_head(features), dim=-1)

    def encode_texts(self, vectors: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, d) word vectors, (B,) lengths -> (B, E) unit vectors."""
        return F.normalize(self.text_encoder(vectors, lengths), dim=-1)

    def classify(self, embeddings: torch.Tensor, label_embeddings: torch.Tensor) -> torch.Tensor:
        """(B, E) embeddings of either side, (L, E) the labels' embeddings (in
        ``config.label_names`` order) -> (B, L) logits (the shared classifier)."""
        labels = len(self.config.label_names)
        if label_embeddings.shape != (labels, self.config.embed_dim):
            raise ValueError(
                f"expected ({labels}, {self.config.embed_dim}) label embeddings, "
                f"got {tuple(label_embeddings.shape)}"
            )
        return self.config.class_scale * embeddings @ label_embeddings.T + self.class_bias

    def forward(
        self,
        features: torch.Tensor,
        vectors: torch.Tensor,
        lengths: torch.Tensor,
        image_targets: torch.Tensor | None = None,
        text_targets: torch.Tensor | None = None,
        matches: torch.Tensor | None = None,
        class_vectors: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> JointEmbeddingOutput:
        """Embed B pictures and their B captions (row i of each is a pair).

        With ``image_targets`` and ``text_targets`` ((B, L) in {0, 1} over ``label_names``: the
        picture's classes and background, those its caption names) the loss is the symmetric
        InfoNCE plus ``semantic_weight`` times the shared classifier's binary cross-entropy on
        both sides, which needs ``class_vectors``: the labels' (L, T, d) word vectors and (L,)
        lengths. ``matches``
        (B, B) bool marks other pairs known to match (caption j is true of picture i): they are
        no negatives.
        """
        out = JointEmbeddingOutput(
            self.encode_images(features), self.encode_texts(vectors, lengths)
        )
        if image_targets is None or text_targets is None:
            return out
        logits = self.log_scale.exp().clamp(max=100.0) * out.images @ out.texts.T  # (B, B)
        if matches is not None:
            eye = torch.eye(len(logits), dtype=torch.bool, device=logits.device)
            logits = logits.masked_fill(matches & ~eye, float("-inf"))
        labels = torch.arange(len(logits), device=logits.device)
        out.contrastive = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
        if class_vectors is None:
            raise ValueError("the loss needs the labels' word vectors (the classifier)")
        classes = self.encode_texts(*class_vectors)  # (L, E)
        # Summed over labels (as the world classifier's loss): the 2-5 positives of 67 labels
        # would otherwise get a vanishing share of the gradient. Measured even at weight 0.
        semantic = sum(
            F.binary_cross_entropy_with_logits(
                self.classify(emb, classes), targets.to(emb.dtype), reduction="sum"
            )
            for emb, targets in ((out.images, image_targets), (out.texts, text_targets))
        )
        out.semantic = semantic / (2 * len(logits))
        out.loss = out.contrastive + self.config.semantic_weight * out.semantic
        return out


# ----- the space with its frozen encoders: what a tab, the CLI and the evaluation call ---------


class JointSpace:
    """A trained :class:`JointEmbedding` composed with its frozen encoders, behind plain calls.

    Built by the caller from loaded parts, so this module imports no other model file:
    ``feature_map`` maps pictures (B, 3, S, S) in [0, 1] to the frozen (B, D, g, g) features
    (the world classifier's ``feature_map``); for a "words" input, ``words`` and ``vectors`` are
    the skip-gram vocabulary and its (V, d) matrix and ``tokenize`` splits a text as they were
    trained; for a "sentence" input, ``sentence_encoder`` maps texts to (n, d) vectors.
    """

    def __init__(
        self,
        model: JointEmbedding,
        feature_map: Callable[[torch.Tensor], torch.Tensor],
        *,
        words: Sequence[str] = (),
        vectors: torch.Tensor | None = None,
        tokenize: Callable[[str], list[str]] | None = None,
        sentence_encoder: Callable[[Sequence[str]], torch.Tensor] | None = None,
    ) -> None:
        self.model = model.eval()
        self.feature_map = feature_map
        if model.config.text_input == "words":
            if vectors is None or tokenize is None or len(words) != len(vectors):
                raise ValueError("a words input needs the vocabulary, its vectors and tokenize")
            self.index: Mapping[str, int] = {w: i for i, w in enumerate(words)}
            self.vectors = vectors.float()
        elif sentence_encoder is None:
            raise ValueError("a sentence input needs its sentence encoder")
        self.tokenize = tokenize
        self.sentence_encoder = sentence_encoder

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.model.config.class_names

    def unknown_words(self, text: str) -> list[str]:
        """The words of ``text`` that have no vector (they are left out of its embedding)."""
        if self.tokenize is None:
            return []
        return [w for w in self.tokenize(text) if w not in self.index]

    def word_batch(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, T, d) padded word vectors of ``texts`` and (n,) lengths; unknown words are left
        out. ValueError naming a text with no known word."""
        if self.tokenize is None:
            raise ValueError("this space reads sentence vectors, not words")
        rows = []
        for text in texts:
            ids = [self.index[w] for w in self.tokenize(text) if w in self.index]
            if not ids:
                raise ValueError(f"no known word in {text!r}")
            rows.append(torch.tensor(ids))
        lengths = torch.tensor([len(r) for r in rows])
        ids = torch.zeros((len(rows), int(lengths.max())), dtype=torch.long)
        for row, r in enumerate(rows):
            ids[row, : len(r)] = r
        return self.vectors[ids], lengths  # (n, T, d); padding rows are ignored by the GRU

    @torch.inference_mode()
    def encode_images(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Pictures (B, 3, S, S) in [0, 1] -> (B, E) unit vectors."""
        out = [
            self.model.encode_images(self.feature_map(images[i : i + batch_size]))
            for i in range(0, len(images), batch_size)
        ]
        return torch.cat(out) if out else torch.zeros((0, self.model.config.embed_dim))

    @torch.inference_mode()
    def encode_texts(self, texts: Sequence[str], batch_size: int = 512) -> torch.Tensor:
        """Texts -> (n, E) unit vectors."""
        out = []
        for i in range(0, len(texts), batch_size):
            chunk = texts[i : i + batch_size]
            if self.sentence_encoder is not None:
                vectors = self.sentence_encoder(chunk)[:, None]  # (n, 1, d)
                lengths = torch.ones(len(chunk), dtype=torch.long)
            else:
                vectors, lengths = self.word_batch(chunk)
            out.append(self.model.encode_texts(vectors, lengths))
        return torch.cat(out) if out else torch.zeros((0, self.model.config.embed_dim))

    @torch.inference_mode()
    def label_probabilities(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(B, L) the shared classifier's probability of each label (the model config's
        ``label_names``: object classes, then background words) for embeddings of either side."""
        labels = self.encode_texts(list(self.model.config.label_names))
        return torch.sigmoid(self.model.classify(embeddings, labels))

    def tags(
        self, image_embeddings: torch.Tensor, threshold: float, words: Sequence[str] | None = None
    ) -> list[list[tuple[str, float]]]:
        """Each picture's tags: the ``words`` (default: the class names) whose embedding's
        cosine similarity with the picture is at least ``threshold``, best first; the best one
        always, so no picture goes untagged."""
        words = list(self.class_names if words is None else words)
        scores = image_embeddings @ self.encode_texts(words).T  # (B, W)
        out = []
        for row in scores:
            order = torch.argsort(row, descending=True).tolist()
            keep = [i for i in order if row[i] >= threshold] or order[:1]
            out.append([(words[i], float(row[i])) for i in keep])
        return out

    def arithmetic(
        self, image_embeddings: torch.Tensor, minus: Sequence[str], plus: Sequence[str]
    ) -> torch.Tensor:
        """ "This picture - X + Y": (B, E) picture embeddings minus the embedding of ``minus[i]``
        plus that of ``plus[i]``, renormalised (B, E)."""
        return arithmetic(image_embeddings, self.encode_texts(minus), self.encode_texts(plus))


def arithmetic(base: torch.Tensor, minus: torch.Tensor, plus: torch.Tensor) -> torch.Tensor:
    """normalize(base - minus + plus), row by row: (B, E) each."""
    return F.normalize(base - minus + plus, dim=-1)


def search(
    queries: torch.Tensor, gallery: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` gallery rows most similar to each query (unit vectors: cosine similarity):
    (Q, k) scores and (Q, k) indices, best first."""
    k = min(k, len(gallery))
    scores, indices = torch.topk(queries @ gallery.T, k, dim=1)
    return scores, indices
