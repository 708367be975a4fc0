"""The pipeline's stages, each on the domain vocabulary alone.

``pipelines.ingest`` (legacy files to standardised Parquet),
``pipelines.register`` (persons and PINs, pure frames) and
``pipelines.warehouse`` (files and the DuckDB registry). The application
(``dancu``) strings them together with matching and quality.
"""
