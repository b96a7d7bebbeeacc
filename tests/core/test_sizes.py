"""Sizes against the model's native size: a warning over twice it, an error past the limit."""

from __future__ import annotations

import pytest

from core.errors import BadInput
from core.sizes import check_size, native_size


def test_native_sizes_of_demo_and_real_kinds() -> None:
    assert native_size("demo:sd") == 64
    assert native_size("my-model", "sdxl") == 1024
    assert native_size("my-model", None) is None


def test_warning_over_twice_and_error_past_sixteen_times_the_pixels() -> None:
    assert check_size(None, None, 512) is None
    assert check_size(1024, 1024, 512) is None
    assert "twice" in (check_size(1024, 1032, 512) or "")
    assert check_size(2048, 2048, 512) is not None  # 16x the pixels: slow, not refused
    with pytest.raises(BadInput, match="2048x2056") as refused:
        check_size(2048, 2056, 512)
    assert refused.value.field == "width"
    assert check_size(4096, 4096, None) is None  # an unknown model: nothing to compare
