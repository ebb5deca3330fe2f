"""chorus: turn many LLM samples into one better answer (Best-of-∞, Fusion-of-N) on Prefect 3."""

__version__ = "0.1.0"
