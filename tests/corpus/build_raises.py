"""build_model() fails."""
INPUT_SHAPE = (2,)


def build_model():
    raise ValueError("width must be positive")
