"""The domain: no LINE, HTTP or Flask request types in here."""
