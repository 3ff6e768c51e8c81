"""Keeping evidence: sealing and keys, the record chain, exports, PDFs, signatures, notices."""
