"""Stage 1: the model.

loading    names, factories, checkpoints -> LoadedModel
graph      the traced graph and its split points (ModelGraph, analyze_model): the facade
measure    what one run tells about each node (shapes, sizes, views, foldable values)
flops      FLOPs per node (FlopCounterMode) and their on-disk cache
split      head/tail modules of a split point and their verification
capture    the one fx pass that runs a graph node by node (every capture builds on it)
inplace    the one table of in-place ops and the rewrite that removes them
compute, profiling   compute-time models and on-device latency profiles
demo       the built-in demo model
"""
