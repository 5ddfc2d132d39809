"""The bottom layer every job shares: errors, output, the shell and Docker adapters,
provenance, the tag keys and the instance settings document. Imports nothing above it."""
