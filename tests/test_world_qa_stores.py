"""VQA's question-answer stores: world scenes with every question and where to look, easy-vqa's
question types."""

from __future__ import annotations

import numpy as np

from multimodal_core.world import language
from multimodal_core.world import qa_stores as stores


def test_world_scenes_carry_every_question_with_answer_ids() -> None:
    store = stores.world_store("validation", 3, 32)
    batch = store.batch([0, 1, 2])
    assert batch.images.shape == (3, 3, 32, 32) and batch.images.max() <= 1.0
    assert len(batch.questions) == len(batch.types) == batch.answers.shape[0] >= 3
    assert set(batch.image_index.tolist()) == {0, 1, 2}
    assert set(batch.types) <= set(language.QUESTION_TYPES)
    assert all(0 <= a < len(language.ANSWERS) for a in batch.answers.tolist())
    image, qas = stores.world_qas("validation", 0, 32, render_size=48)  # rendered larger
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    first = [q for q, i in zip(batch.questions, batch.image_index, strict=True) if i == 0]
    assert [q[0] for q in qas] == first


def test_focus_asks_more_questions_of_the_focus_types_without_duplicates() -> None:
    per_type = {}
    for focus in (((), 0), (("relation", "count"), 3)):
        texts, types = [], []
        for index in range(40):
            _, qas = stores.world_qas("validation", index, 32, focus=focus)
            texts += [(index, qa[0]) for qa in qas]
            types += [qa[2] for qa in qas]
        assert len(set(texts)) == len(texts)
        per_type[focus[1]] = {t: types.count(t) for t in set(types)}
    assert per_type[3]["relation"] > 1.5 * per_type[0]["relation"]
    assert per_type[3]["count"] > 1.5 * per_type[0]["count"]
    assert per_type[3]["background"] == per_type[0]["background"]  # other types unchanged


def test_object_regions_cover_the_object_or_its_best_region() -> None:
    mask = np.zeros((96, 96), dtype=bool)
    mask[8:24, 40:56] = True  # rows 1-2, columns 5-6 of a 12 x 12 grid of 8 px regions
    regions = stores.object_regions(mask, 12).reshape(12, 12)
    assert set(zip(*np.nonzero(regions), strict=True)) == {(1, 5), (1, 6), (2, 5), (2, 6)}
    speck = np.zeros((96, 96), dtype=bool)
    speck[50, 70] = True  # far below the coverage: still one region, the one it is in
    assert np.flatnonzero(stores.object_regions(speck, 12)).tolist() == [6 * 12 + 8]


def test_relation_looks_send_hop_one_to_the_first_noun_and_hop_two_to_the_second() -> None:
    checked = 0
    for index in range(30):
        _, qas = stores.world_qas("validation", index, 96, focus=(("relation",), 2), grid=12)
        scene = stores.world_dataset("validation", 96, False).scene(index)
        for text, _, qtype, looks in qas:
            if qtype == "background":
                assert looks.shape[0] == 0
            if qtype != "relation":
                continue
            words = text.split()  # is the <first> <relation> the <second>
            first, second = ({o.name: o for o in scene.objects}[w] for w in (words[2], words[-1]))
            targets = stores.hop_targets([looks], hops=2, regions=144)[0]
            for hop, obj in ((0, first), (1, second)):
                assert (targets[hop].numpy() == stores.object_regions(obj.mask, 12)).all()
            checked += 1
    assert checked >= 20
    one = stores.hop_targets([np.eye(1, 4, 2, dtype=bool), stores.NO_LOOKS], hops=2, regions=4)
    assert one[0].tolist() == [[False, False, True, False]] * 2 and not one[1].any()


def test_easyvqa_types() -> None:
    assert stores.easyvqa_type("yes") == "yes/no"
    assert stores.easyvqa_type("circle") == "shape"
    assert stores.easyvqa_type("teal") == "color"
