"""Helpers the tests share: writing small projects, real servers, materializing through Dagster."""
