"""All file and subprocess I/O for pixels and sound: images, ffmpeg sources and sinks, probing."""
