"""Operator tools over what the pipe leaves behind: session-log archives and usage records."""
