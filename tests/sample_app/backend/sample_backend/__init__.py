"""Sample backend for the golden image's local twin (a stand-in for the AGENT app)."""
