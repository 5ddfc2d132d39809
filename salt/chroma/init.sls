include:
  - chroma.image
  - chroma.volume
  - chroma.server
  - chroma.proxy
  - chroma.logs
