"""Datasets and vocabularies."""
