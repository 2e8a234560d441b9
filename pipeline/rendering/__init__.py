"""The render modes (still, atlas, video, zoom) and what they share: outputs, locks, manifests."""
