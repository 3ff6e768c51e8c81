"""The model's features: hashed all at once exactly as one at a time, whatever the text."""

from __future__ import annotations

import math
import unicodedata
from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from safetybot.guidance.textmodel import _unmarked, bucket_of, features, fold, hashed


def _slowly(text: str, limit: int) -> tuple[list[int], list[float]]:
    counts = Counter(bucket_of(feature) for feature in features(text, limit))
    buckets = sorted(counts)
    values = [1.0 + math.log(counts[bucket]) for bucket in buckets]
    length = math.sqrt(sum(v * v for v in values)) or 1.0
    return buckets, [v / length for v in values]


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300), limit=st.sampled_from([1500, 4096]))
def test_hashing_a_whole_text_gives_each_feature_its_own_bucket(text: str, limit: int) -> None:
    buckets, values = hashed(text, limit)
    expected_buckets, expected_values = _slowly(text, limit)
    assert buckets.tolist() == expected_buckets
    assert np.allclose(values, expected_values, atol=1e-5)


def test_a_long_message_is_hashed_like_a_short_one() -> None:
    text = "Pay 500 in gift cards tonight or your family sees the video. " * 80
    buckets, values = hashed(text, 4096)
    expected_buckets, expected_values = _slowly(text, 4096)
    assert buckets.tolist() == expected_buckets
    assert np.allclose(values, expected_values, atol=1e-5)
    assert len(buckets) > 50


def test_folding_unmasks_accents_look_alikes_and_digits_in_words() -> None:
    assert fold("Mánda las fоtоs, n00ds, DON'T") == ["manda", "las", "fotos", "noods", "dont"]


# Letters with their accents and other marks, and any other character (beyond the last mark too).
_MARKED = st.text(
    st.one_of(
        st.characters(),
        st.characters(min_codepoint=0x300, max_codepoint=0x36F),
        st.characters(categories=["Mn", "Mc", "Me"]),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(text=_MARKED)
def test_marks_are_dropped_as_one_character_at_a_time_would(text: str) -> None:
    for form in (text, unicodedata.normalize("NFKD", text)):  # fold drops them after NFKD
        assert _unmarked(form) == "".join(c for c in form if not unicodedata.combining(c))
