"""A real Open WebUI 0.12.4, installed into its own cached venv and run offline on loopback.

`install` builds the venv, `instance` starts a server and drives it over REST and socket.io,
`differential` runs the same scripted conversation through it and through the fake host.
"""
