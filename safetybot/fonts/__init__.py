"""Fonts shipped for exported PDFs (DejaVu Sans, free license)."""
