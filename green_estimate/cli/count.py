"""placeholder"""
def count() -> None:
    """Not built yet."""
