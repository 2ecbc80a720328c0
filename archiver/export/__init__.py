"""Signed audit bundles (BagIt, PAdES-signed PDF, CMS-signed tag manifest) and their
verification with standard tools. Plain Python, no Qt."""
