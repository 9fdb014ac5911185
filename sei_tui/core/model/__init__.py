"""Stage 1: the model. Loading (names, factories, checkpoints), the fx graph and its split
points, head/tail modules, compute-time models and on-device profiling."""
