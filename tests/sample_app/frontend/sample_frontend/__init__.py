"""Sample frontend for the golden image's local twin: a Next.js-style static export."""
