"""dreamreel: DeepDream for stills, video and infinite zoom loops."""
__version__ = "0.1.0"
