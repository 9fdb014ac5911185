"""Stage 3: the network. The scenario model, its TOML reader/writer and validation, and the
conversion to the simulator's NetworkSpec."""
