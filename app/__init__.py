"""Campaign and discount service: decides which discount a checkout gets and never overspends a budget."""

__version__ = "1.0.0"
