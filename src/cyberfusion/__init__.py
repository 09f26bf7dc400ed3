"""cyberfusion: a cyber fusion centre platform."""
__version__ = "0.1.0"
