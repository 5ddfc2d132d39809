"""The local twin: base image, app and Chroma image builders, wheelhouse, twin build and
the local stack of stand-ins."""
