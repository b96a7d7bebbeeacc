"""Fine-tuning: LoRA, DreamBooth and textual inversion over one training loop (no Qt).

`core.training.run.train(spec, library, on_progress, should_stop)` is the entry point.
"""
