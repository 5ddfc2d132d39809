"""golden: Packer + SaltStack golden-image pipeline for the AGENT platform."""

__version__ = "0.1.0"
