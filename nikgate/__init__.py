"""nikgate: the access gateway to Indonesia's population database, keyed by NIK."""

__version__ = "0.1.0"
