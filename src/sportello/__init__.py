"""Sportello: an open-source customer-support desk."""

__version__ = "0.1.0"
