"""Conversation state kept between turns: the encrypted artifact store (schema, engine, crypto,
codec, store). Import from the modules themselves: the exporter flattens this package."""
