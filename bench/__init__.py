"""Benchmarks of the tenancy engine; scripts run by hand, never collected as tests."""
