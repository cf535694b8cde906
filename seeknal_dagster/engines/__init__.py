"""Engines that move data: DuckDB SQL, atomic Parquet outputs, Spark."""
