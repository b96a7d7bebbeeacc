"""The demo:sd evaluation: several seed sets per prompt, through the app's engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from training import evaluate_demo_sd as evaluation
from training import shapes


def test_every_prompt_runs_once_per_seed_set_and_is_judged(tmp_path: Path) -> None:
    runner = evaluation.Runner(tmp_path / "home")
    seen: list[tuple[str, int]] = []
    images = runner.images

    def recording(request: Any) -> Any:
        seen.append((request.prompt, request.seed))
        return images(request)

    runner.images = recording  # type: ignore[method-assign]
    try:
        figures = evaluation.text2img(runner, None, limit=2, seeds=2)
    finally:
        runner.library.close()
    prompts = [p[0] for p in shapes.eval_prompts()[:2]]
    assert seen == [
        (prompts[0], 1000),
        (prompts[1], 1001),
        (prompts[0], 1000 + evaluation.SEED_STRIDE),
        (prompts[1], 1001 + evaluation.SEED_STRIDE),
    ]
    assert figures["n"] == 4 and figures["seed_sets"] == 2
    assert len(figures["colour_by_seed_set"]) == len(figures["all_by_seed_set"]) == 2
    for key in ("shape", "colour", "background", "all"):
        assert 0.0 <= figures[key] <= 1.0
    # the overall figure is the mean of the two equal-sized seed sets
    assert figures["colour"] == pytest.approx(sum(figures["colour_by_seed_set"]) / 2, abs=1e-3)


def test_zero_seed_sets_is_an_argument_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        evaluation.main(["--seeds", "0"])
    assert exit_info.value.code == 2
    assert "--seeds 0: expected at least 1" in capsys.readouterr().err
