"""Benchmarks, the load test, and the harness that starts services for them and for the tests."""
