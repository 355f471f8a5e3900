"""Score comment threads for hostile or off-topic replies and queue them for review."""
