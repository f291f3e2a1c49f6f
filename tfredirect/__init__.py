"""tfredirect: gaze and head redirection of face images (CN118116053A) in Keras 3."""

__version__ = "0.1.0"
