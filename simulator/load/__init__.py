"""`orsim load`: load tests with locust against the fake stack (or a real Open WebUI)."""
