"""Pure tensor code of the dream: objectives, gradient shaping, tiles, octaves. No files."""
from dreamreel.dream.engine import DreamParams, Term, ascent_step, dream, image_gradient
from dreamreel.dream.objective import guide_features, objective

__all__ = ["DreamParams", "Term", "ascent_step", "dream", "image_gradient", "guide_features", "objective"]
