"""Operator commands of `python -m service`: outbox, dead letters, projection, keys, tokens."""
