"""sei: Split-Et-Impera in the terminal."""

__version__ = "0.1.0"
