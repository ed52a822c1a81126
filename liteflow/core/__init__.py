"""The public API is assembled in __init__ at the end of the core build."""
