"""Trained parts added to a model at a split point: early exits and bottlenecks.

split_data      the seeded train/evaluation split of the images (disjoint by construction)
exits           exit branches (pooling rule per tensor layout + linear), their training
bottleneck      encoder/decoder pairs around a split tensor, their training
training        the checked plan (points, images), forward passes, training per point
training_cache  trained parts cached by model, weights, data, split point and configuration
deploy          `early_exit` and `bottleneck` deployments built from the split deployments

Textual-free and CLI-free, like the rest of `sei_tui.core`. docs/cli.md ("Early exits and
bottlenecks") documents the rules users see.
"""
