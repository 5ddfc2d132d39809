"""Baking images with Packer: the wrapper, the Packer adapter and its machine-readable
stream, the 1.6.6 compatibility rendering, staging and the emulated-AWS stand-in."""
