"""The hashed embedding is deterministic, normalised, and puts similar texts near each other."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from shared.errors import ConfigurationError
from shared.hashed_embedding import cosine_similarity, hashed_embedding


def test_similar_texts_are_much_nearer_than_unrelated_ones() -> None:
    cat = hashed_embedding("the cat sat on the mat")
    near = hashed_embedding("a cat sat on a mat")
    far = hashed_embedding("quarterly tax filing deadline")
    assert cosine_similarity(cat, near) > 0.3
    assert cosine_similarity(cat, near) > cosine_similarity(cat, far) + 0.25


def test_vector_has_requested_length_and_unit_norm() -> None:
    for dimensions in (1, 8, 384, 1536):
        vector = hashed_embedding("Hello, World! héllo wörld", dimensions)
        assert len(vector) == dimensions
        assert math.isclose(math.sqrt(sum(v * v for v in vector)), 1.0, rel_tol=1e-9)


@pytest.mark.parametrize("text", ["", "   ", "!!! ???", None])
def test_empty_text_gives_zero_vector_of_right_length(text: str | None) -> None:
    assert hashed_embedding(text, 16) == [0.0] * 16


def test_case_and_punctuation_do_not_matter() -> None:
    assert hashed_embedding("Hello, world!") == hashed_embedding("hello world")


def test_stable_across_processes() -> None:
    """Python's hash() is salted per process; the embedding must not be."""
    code = (
        "from shared.hashed_embedding import hashed_embedding;"
        "print(hashed_embedding('stable across processes', 32))"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    }
    assert len(runs) == 1
    assert runs.pop().strip() == str(hashed_embedding("stable across processes", 32))


def test_invalid_dimensions_say_what_to_set() -> None:
    with pytest.raises(ConfigurationError, match="ELIZABUS_EMBEDDING_DIMENSIONS"):
        hashed_embedding("x", 0)


def test_cosine_of_zero_vector_is_zero() -> None:
    assert cosine_similarity([0.0, 0.0], [1.0, 0.0]) == 0.0
