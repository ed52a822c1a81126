"""LiteFlow providers: ``memory`` (built in), ``mongo`` and ``redis``."""
