"""Stage 1b: evaluation data. Image folders, CIFAR-10 batches and synthetic shapes, with
the model's preprocessing (see docs/preprocessing.md)."""
