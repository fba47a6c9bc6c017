"""Two-stream visual question answering with stacked attention and a count glimpse.

Implements Yang et al. 2016, "Stacked Attention Networks for Image Question Answering"
(arXiv:1511.02274): a CNN turns the image into a grid of region features, a recurrent encoder
turns the question into a vector u, and each of K attention hops computes
``p = softmax(w_p tanh(W_I v_i + W_Q u))`` over the regions and refines the query with the
attended feature, ``u <- u + sum_i p_i v_i``; a classifier over a fixed answer vocabulary reads
the final query.

What differs from the paper, and why:
- The CNN is small and trained from scratch (nothing can be downloaded here), and two coordinate
  channels (x, y in [-1, 1]) are appended to the region features, so "where is the dog" and "is
  the dog above the cat" can read where an attended region is.
- The question encoder is a GRU over learned word embeddings (the paper uses an LSTM or a CNN).
  Words outside the vocabulary are mapped to their nearest vocabulary word by a sentence encoder
  before the model sees them (``multimodal_core.tasks.vqa``), so the model takes ids only.
- Softmax attention sums to one, so it cannot count. A "count glimpse" adds an unnormalised
  read-out: a sigmoid gate per region, conditioned on the question, weights the region
  features, and their sum (and the sum of the gates) joins the classifier's input.
- Image features are computed once per image and shared by every question about it
  (``image_index``), which makes training several times cheaper per question.
- ``use_image=False`` builds the question-only baseline: the same question stream and classifier
  with the image stream removed, to measure how much the answers are guessable from the text.
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
ANSWERS_NAME = "answers.json"

PAD, UNK = "<pad>", "<unk>"
SPECIAL_TOKENS = (PAD, UNK)  # ids 0 and 1 in every question vocabulary
_ARTICLES = {"an": "a"}  # "an" carries no meaning "a" lacks; merging them lets synonyms swap in


@dataclass
class VQAConfig(ConfigMixin):
    """Hyperparameters of :class:`StackedAttentionVQA`.

    Args:
        vocab_size (int): question words, the two special tokens included.
        num_answers (int): size of the answer vocabulary (classifier outputs).
        pad_id, unk_id (int, defaults to 0, 1): ids of <pad> and <unk>.
        image_size (int, defaults to 96): side of the square RGB input in pixels.
        encoder_channels (tuple[int, ...], defaults to (32, 64, 128)): channels of the CNN
            stages; each halves the resolution, so the grid side is
            ``image_size / 2 ** len(encoder_channels)``.
        feature_dim (int, defaults to 128): size of a region feature and of the question vector
            (they are added in each hop, so they share one size).
        embed_dim (int, defaults to 64): word embedding size.
        attention_dim (int, defaults to 128): hidden size of each attention hop.
        hops (int, defaults to 2): stacked attention layers.
        count_glimpse (bool, defaults to True): add the unnormalised counting read-out.
        hop_glimpses (bool, defaults to False): give the classifier each hop's attended feature
            as well as the final query; the summed query alone mixes up which of two attended
            objects sits where (relations).
        hop_positions (bool, defaults to False): give the classifier where each hop looked, the
            attention-weighted mean of the region coordinates (x, y); "is the dog left of the
            cat" is then a comparison of two numbers instead of one read off a summed feature.
        question_attention (bool, defaults to False): each hop also attends over the question's
            words (MAC's control unit, Hudson and Manning 2018) and adds what it read to its
            query, so the two hops can look for two different nouns; with one query for both,
            the hops of "is the dog left of the cat" mostly looked at the same object (and,
            trained for 40 minutes, mostly still did: see the world checkpoint's card).
        hop_relations (bool, defaults to False): a readout made for comparing where the first
            two hops looked: a small network over the two positions and their difference,
            multiplied by a projection of the question, joins the classifier's input. With hop
            positions alone the one-hidden-layer classifier must learn "relation word times
            sign of a difference" by itself, and was slow to (the card's looks run).
        use_image (bool, defaults to True): False builds the question-only baseline.
        classifier_dim (int, defaults to 256): hidden size of the answer classifier.
        dropout (float, defaults to 0.1): dropout before the classifier's layers.
    """

    vocab_size: int
    num_answers: int
    pad_id: int = 0  # QuestionVocabulary puts the special tokens first
    unk_id: int = 1
    image_size: int = 96  # world scenes render at 96 px for training; easy-vqa is 64 px
    encoder_channels: tuple[int, ...] = (32, 64, 128)  # 3 halvings: 96 px -> 12 x 12 regions
    feature_dim: int = 128  # ~60 classes, 13 backgrounds and positions fit comfortably
    embed_dim: int = 64  # question vocabularies here hold a few hundred words
    attention_dim: int = 128
    hops: int = 2  # the paper's best; relations need a second look
    count_glimpse: bool = True  # raised count accuracy from 0.83 to 0.93 in the prototype
    hop_glimpses: bool = False  # False: the paper's fusion (and the first checkpoints')
    hop_positions: bool = False
    question_attention: bool = False
    hop_relations: bool = False
    use_image: bool = True
    classifier_dim: int = 256
    dropout: float = 0.1  # mild: freshly rendered scenes already regularise

    def __post_init__(self) -> None:
        self.encoder_channels = tuple(int(c) for c in self.encoder_channels)  # JSON gives lists
        if self.vocab_size < len(SPECIAL_TOKENS) + 1:
            raise ValueError(f"vocab_size must be at least 3, got {self.vocab_size}")
        if self.num_answers < 2:
            raise ValueError(f"num_answers must be at least 2, got {self.num_answers}")
        ids = (self.pad_id, self.unk_id)
        if len(set(ids)) != 2 or not all(0 <= i < self.vocab_size for i in ids):
            raise ValueError(f"pad_id and unk_id must be distinct and < vocab_size, got {ids}")
        if not self.encoder_channels or any(c <= 0 for c in self.encoder_channels):
            raise ValueError(f"encoder_channels must be positive, got {self.encoder_channels}")
        if self.image_size % (2 ** len(self.encoder_channels)) != 0:
            raise ValueError(
                f"image_size ({self.image_size}) must be divisible by 2 ** len(encoder_channels) "
                f"({2 ** len(self.encoder_channels)})"
            )
        for name in ("feature_dim", "embed_dim", "attention_dim", "hops", "classifier_dim"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.hop_relations and (self.hops < 2 or not self.use_image):
            raise ValueError("hop_relations compares two hops: it needs hops >= 2 and the image")

    @property
    def grid_size(self) -> int:
        """Side of the region grid the attention looks over."""
        return self.image_size // 2 ** len(self.encoder_channels)

    @property
    def num_regions(self) -> int:
        return self.grid_size**2


class QuestionVocabulary:
    """Question words <-> ids; <pad> and <unk> come first (ids 0 and 1).

    ``nouns`` maps the vocabulary's nouns (singular and plural forms) to their singular: the
    words an unknown synonym may stand for ("puppy" -> "dog", "puppies" -> "dogs").
    """

    def __init__(self, words: Sequence[str], nouns: dict[str, str] | None = None) -> None:
        words = list(words)
        if tuple(words[:2]) != SPECIAL_TOKENS:
            raise ValueError(f"a question vocabulary must start with {SPECIAL_TOKENS}")
        if len(set(words)) != len(words):
            raise ValueError("a question vocabulary must not repeat a word")
        self.words = words
        self.index = {w: i for i, w in enumerate(words)}
        self.nouns = dict(nouns or {})
        missing = sorted(w for w in {*self.nouns, *self.nouns.values()} if w not in self.index)
        if missing:
            raise ValueError(f"nouns must be vocabulary words; not in it: {missing}")

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    @staticmethod
    def tokenize(question: str) -> list[str]:
        """Lower-case words without punctuation; "an" becomes "a"."""
        words = re.findall(r"[a-z0-9]+", question.lower())
        return [_ARTICLES.get(w, w) for w in words]

    @classmethod
    def build(
        cls, questions: Iterable[str], nouns: dict[str, str] | None = None
    ) -> QuestionVocabulary:
        """Every word of ``questions`` (and of ``nouns``), sorted so the ids are reproducible."""
        seen = {w for q in questions for w in cls.tokenize(q)}
        seen |= {w for pair in (nouns or {}).items() for w in pair}
        return cls([*SPECIAL_TOKENS, *sorted(seen - set(SPECIAL_TOKENS))], nouns)

    def unknown(self, question: str) -> list[str]:
        """Words of ``question`` the vocabulary lacks, in order, without repeats."""
        return list(dict.fromkeys(w for w in self.tokenize(question) if w not in self.index))

    def encode(self, question: str) -> list[int]:
        """Ids of the question's words (unknown words -> <unk>); at least one id."""
        ids = [self.index.get(w, self.index[UNK]) for w in self.tokenize(question)]
        return ids or [self.index[UNK]]

    def encode_batch(self, questions: Sequence[str]) -> torch.Tensor:
        """(Q, T) ids padded with <pad>, T the longest question."""
        ids = [self.encode(q) for q in questions]
        out = torch.zeros((len(ids), max(len(i) for i in ids)), dtype=torch.long)
        for row, seq in enumerate(ids):
            out[row, : len(seq)] = torch.tensor(seq)
        return out

    def save(self, directory: str | os.PathLike) -> None:
        write_json(directory, VOCAB_NAME, {"words": self.words, "nouns": self.nouns}, indent=0)

    @classmethod
    def from_pretrained(cls, path_or_repo: str | os.PathLike) -> QuestionVocabulary:
        values = read_json(path_or_repo, VOCAB_NAME)
        return cls(values["words"], values.get("nouns"))


def save_answers(answers: Sequence[str], directory: str | os.PathLike) -> None:
    """Write the answer vocabulary (classifier output i is ``answers[i]``)."""
    write_json(directory, ANSWERS_NAME, {"answers": list(answers)}, indent=0)


def load_answers(path_or_repo: str | os.PathLike) -> list[str]:
    return list(read_json(path_or_repo, ANSWERS_NAME)["answers"])


@dataclass
class VQAOutput:
    """Answers to Q questions.

    logits: (Q, A); attention: (Q, hops, N) softmax weights over the regions per hop (empty
    (Q, 0, 0) for the question-only model); count_gates: (Q, N) sigmoid gates of the count
    glimpse, or None; loss: mean cross-entropy when answers were given.
    """

    logits: torch.Tensor
    attention: torch.Tensor
    count_gates: torch.Tensor | None
    loss: torch.Tensor | None = None


def _conv_bn_relu(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


class ImageEncoder(nn.Module):
    """A small CNN to a grid of region features, with coordinate channels."""

    def __init__(self, config: VQAConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c_out in config.encoder_channels:  # each stage: stride-2 conv, then a 3x3 conv
            layers += _conv_bn_relu(c_in, c_out, 2) + _conv_bn_relu(c_out, c_out, 1)
            c_in = c_out
        self.cnn = nn.Sequential(*layers)
        self.project = nn.Conv2d(c_in + 2, config.feature_dim, 1)
        g = config.grid_size
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, g), torch.linspace(-1, 1, g), indexing="ij")
        self.register_buffer("coords", torch.stack([xs, ys])[None], persistent=False)  # (1,2,g,g)
        self.image_size = config.image_size

    def region_positions(self) -> torch.Tensor:
        """(N, 2): each region's (x, y) in [-1, 1], in the order of the features' regions."""
        return self.coords.flatten(2)[0].T

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) in [0, 1] -> region features (B, N, feature_dim)."""
        if images.dim() != 4 or images.shape[1] != 3 or images.shape[-2:] != (self.image_size,) * 2:
            raise ValueError(
                f"expected images of shape (B, 3, {self.image_size}, {self.image_size}), "
                f"got {tuple(images.shape)}"
            )
        x = self.cnn(images * 2.0 - 1.0)  # (B, C, g, g)
        coords = self.coords.to(x.dtype).expand(x.shape[0], -1, -1, -1)
        x = F.relu(self.project(torch.cat([x, coords], 1)))  # (B, D, g, g)
        return x.flatten(2).transpose(1, 2)  # (B, N, D)


class QuestionEncoder(nn.Module):
    """Word embeddings and a GRU; the question vector is the GRU's state after the last word."""

    def __init__(self, config: VQAConfig) -> None:
        super().__init__()
        self.pad_id = config.pad_id
        self.embedding = nn.Embedding(
            config.vocab_size, config.embed_dim, padding_idx=config.pad_id
        )
        self.gru = nn.GRU(config.embed_dim, config.feature_dim, batch_first=True)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """tokens (Q, T) ids, right-padded -> question vectors (Q, feature_dim), the GRU's
        output at every word (Q, T', feature_dim) and which of those are words (Q, T') bool,
        T' the longest question's length."""
        if tokens.dim() != 2 or tokens.shape[1] == 0:
            raise ValueError(f"expected question ids of shape (Q, T), got {tuple(tokens.shape)}")
        lengths = (tokens != self.pad_id).sum(1).clamp(min=1)  # (Q,)
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embedding(tokens), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        outputs, hidden = self.gru(packed)  # hidden (1, Q, D)
        words, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True)  # (Q, T', D)
        mask = torch.arange(words.shape[1], device=tokens.device)[None] < lengths[:, None]
        return hidden[0], words, mask


class QuestionAttention(nn.Module):
    """Which words one hop looks for (MAC's control unit): a hop-specific projection of the
    question vector scores every word's GRU output; their softmax-weighted sum is the read-out."""

    def __init__(self, config: VQAConfig) -> None:
        super().__init__()
        self.project = nn.Linear(config.feature_dim, config.feature_dim)
        self.score = nn.Linear(config.feature_dim, 1)

    def forward(
        self, question: torch.Tensor, words: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """question (Q, D), words (Q, T, D), mask (Q, T) -> read-out (Q, D)."""
        scores = self.score(words * self.project(question)[:, None, :]).squeeze(-1)  # (Q, T)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        return torch.bmm(weights[:, None, :], words).squeeze(1)


class AttentionHop(nn.Module):
    """One stacked-attention layer: p = softmax(w_p tanh(W_I v + W_Q u)); the caller refines
    the query with the attended feature, u <- u + sum p v."""

    def __init__(self, config: VQAConfig) -> None:
        super().__init__()
        self.image_proj = nn.Linear(config.feature_dim, config.attention_dim)
        self.query_proj = nn.Linear(config.feature_dim, config.attention_dim)
        self.score = nn.Linear(config.attention_dim, 1)

    def forward(
        self, features: torch.Tensor, keys: torch.Tensor, query: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """features (Q, N, D), keys = image_proj(features) (Q, N, A), query (Q, D)
        -> attended feature (Q, D), attention (Q, N)."""
        energy = torch.tanh(keys + self.query_proj(query)[:, None, :])  # (Q, N, A)
        attention = torch.softmax(self.score(energy).squeeze(-1), dim=-1)  # (Q, N)
        attended = torch.bmm(attention[:, None, :], features).squeeze(1)  # (Q, D)
        return attended, attention


class CountGlimpse(nn.Module):
    """An unnormalised read-out: g_i = sigmoid(w tanh(W_I v_i + W_Q q)); sum_i g_i v_i, sum_i g_i.

    Softmax weights always sum to one, so "two dogs" and "one dog" attend alike; independent
    gates add up with the number of matching regions.
    """

    def __init__(self, config: VQAConfig) -> None:
        super().__init__()
        self.image_proj = nn.Linear(config.feature_dim, config.attention_dim)
        self.query_proj = nn.Linear(config.feature_dim, config.attention_dim)
        self.score = nn.Linear(config.attention_dim, 1)

    def forward(
        self, features: torch.Tensor, keys: torch.Tensor, query: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """features (Q, N, D), keys = image_proj(features) (Q, N, A), query (Q, D)
        -> read-out (Q, D + 1), gates (Q, N)."""
        energy = torch.tanh(keys + self.query_proj(query)[:, None, :])  # (Q, N, A)
        gates = torch.sigmoid(self.score(energy).squeeze(-1))  # (Q, N)
        total = torch.bmm(gates[:, None, :], features).squeeze(1)  # (Q, D)
        return torch.cat([total, gates.sum(-1, keepdim=True)], dim=-1), gates


class RelationReadout(nn.Module):
    """Compares where the first two hops looked, as the question asks.

    ``compare`` turns the two positions and their difference into C features (thresholds such
    as "more than a third of the picture further left"); the question's projection weights
    them, so "left of" and "above" read different features of the same pair of positions.
    """

    features = 32

    def __init__(self, config: VQAConfig) -> None:
        super().__init__()
        self.compare = nn.Sequential(
            nn.Linear(6, 2 * self.features),
            nn.ReLU(inplace=True),
            nn.Linear(2 * self.features, self.features),
        )
        self.ask = nn.Linear(config.feature_dim, self.features)

    def forward(self, where: torch.Tensor, question: torch.Tensor) -> torch.Tensor:
        """where (Q, hops, 2) attended positions, question (Q, D) -> read-out (Q, C)."""
        first, second = where[:, 0], where[:, 1]
        pair = torch.cat([first, second, first - second], dim=-1)  # (Q, 6)
        return self.compare(pair) * self.ask(question)


class StackedAttentionVQA(PretrainedModel):
    """Image stream + question stream, stacked attention, count glimpse, answer classifier."""

    config_class = VQAConfig

    def __init__(self, config: VQAConfig) -> None:
        super().__init__()
        self.config = config
        self.question_encoder = QuestionEncoder(config)
        fused = config.feature_dim
        if config.use_image:
            self.image_encoder = ImageEncoder(config)
            self.hops = nn.ModuleList(AttentionHop(config) for _ in range(config.hops))
            if config.question_attention:
                self.reads = nn.ModuleList(QuestionAttention(config) for _ in range(config.hops))
            if config.hop_glimpses:
                fused += config.hops * config.feature_dim
            if config.hop_positions:
                fused += config.hops * 2
            if config.hop_relations:
                self.relations = RelationReadout(config)
                fused += RelationReadout.features
            if config.count_glimpse:
                self.count = CountGlimpse(config)
                fused += config.feature_dim + 1
        self.classifier = nn.Sequential(
            nn.Dropout(config.dropout),
            nn.Linear(fused, config.classifier_dim),
            nn.ReLU(inplace=True),
            nn.Dropout(config.dropout),
            nn.Linear(config.classifier_dim, config.num_answers),
        )

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) in [0, 1] -> region features (B, N, D); empty for question-only."""
        if not self.config.use_image:
            return images.new_zeros((images.shape[0], 0, self.config.feature_dim))
        return self.image_encoder(images)

    def answer(
        self,
        features: torch.Tensor,
        questions: torch.Tensor,
        image_index: torch.Tensor | None = None,
        answers: torch.Tensor | None = None,
    ) -> VQAOutput:
        """Answer questions (Q, T) about images already encoded to ``features`` (B, N, D).

        ``image_index`` (Q,) says which image each question is about (default: question i is
        about image i); ``answers`` (Q,) answer ids, when given, add the cross-entropy loss.
        """
        q = questions.shape[0]
        if image_index is None:
            image_index = torch.arange(q, device=questions.device)
        if image_index.shape != (q,):
            raise ValueError(f"image_index must have shape ({q},), got {tuple(image_index.shape)}")
        if answers is not None and answers.shape != (q,):
            raise ValueError(f"answers must have shape ({q},), got {tuple(answers.shape)}")
        query, words, mask = self.question_encoder(questions)  # (Q, D), (Q, T, D), (Q, T)
        gates = None
        if self.config.use_image:
            if q and features.shape[0] <= int(image_index.max()):
                raise ValueError("image_index points past the images given")
            # Keys are projected once per image and shared by its questions: (B,N,A) -> (Q,N,A).
            regions = features.index_select(0, image_index)  # (Q, N, D)
            question = query
            maps, glimpses = [], []
            for i, hop in enumerate(self.hops):
                keys = hop.image_proj(features).index_select(0, image_index)
                look_for = query
                if self.config.question_attention:
                    look_for = query + self.reads[i](question, words, mask)
                attended, attention = hop(regions, keys, look_for)
                query = query + attended  # (Q, D)
                maps.append(attention)
                glimpses.append(attended)
            attention_maps = torch.stack(maps, 1)  # (Q, hops, N)
            fused = [query, *glimpses] if self.config.hop_glimpses else [query]
            if self.config.hop_positions or self.config.hop_relations:
                positions = self.image_encoder.region_positions().to(query.dtype)  # (N, 2)
                where = attention_maps @ positions  # (Q, hops, 2)
                if self.config.hop_positions:
                    fused.append(where.flatten(1))
                if self.config.hop_relations:
                    fused.append(self.relations(where, question))
            if self.config.count_glimpse:
                keys = self.count.image_proj(features).index_select(0, image_index)
                glimpse, gates = self.count(regions, keys, question)
                fused.append(glimpse)
            fused_t = torch.cat(fused, dim=-1)
        else:
            attention_maps = query.new_zeros((q, 0, 0))
            fused_t = query
        logits = self.classifier(fused_t)  # (Q, A)
        loss = F.cross_entropy(logits, answers) if answers is not None else None
        return VQAOutput(logits, attention_maps, gates, loss)

    def forward(
        self,
        images: torch.Tensor,
        questions: torch.Tensor,
        image_index: torch.Tensor | None = None,
        answers: torch.Tensor | None = None,
    ) -> VQAOutput:
        """images (B, 3, H, W), questions (Q, T) ids -> :class:`VQAOutput` (loss if answers)."""
        return self.answer(self.encode_images(images), questions, image_index, answers)


def attention_supervision_loss(attention: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """-log of the attention mass each hop puts on its target regions, averaged over the
    (question, hop) pairs that have a target; 0 when none has.

    attention (Q, hops, N) softmax weights, targets (Q, hops, N) bool. Mass, not a match to a
    uniform map: a hop may look at any part of its object, only not elsewhere.
    """
    if attention.shape != targets.shape:
        raise ValueError(
            f"attention {tuple(attention.shape)} and targets {tuple(targets.shape)} differ"
        )
    supervised = targets.any(-1)  # (Q, hops)
    if not supervised.any():
        return attention.sum() * 0.0  # keeps the graph (and the device) of a real loss
    mass = (attention * targets).sum(-1)[supervised]
    return -torch.log(mass.clamp_min(1e-6)).mean()


def top_k(
    logits: torch.Tensor, answers: Sequence[str], k: int = 5
) -> list[list[tuple[str, float]]]:
    """The k most probable answers of each row of logits (Q, A), with softmax probabilities."""
    probs = torch.softmax(logits.float(), dim=-1)
    values, indices = probs.topk(min(k, probs.shape[-1]), dim=-1)
    return [
        [(answers[int(i)], float(p)) for p, i in zip(row_p, row_i, strict=True)]
        for row_p, row_i in zip(values, indices, strict=True)
    ]
