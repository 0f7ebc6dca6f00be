"""Real backing services (PostgreSQL, ...) started from the Debian packages for tests and
benchmarks: temp directories, free ports, torn down on exit."""
