"""globalhs: the JSOC global helioseismology pipeline (doglobalhs) in Python."""

__version__ = "0.1.0"
