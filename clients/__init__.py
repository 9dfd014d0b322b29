"""Reference clients, benchmarks and the harness that starts services for them and the tests."""
