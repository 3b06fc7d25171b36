"""Conversation flows: capturing fields from what callers say."""
