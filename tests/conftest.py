"""Shared fixtures live in tests/fixtures/, one module per real peer (lexicon tree, PDS, S3)."""

pytest_plugins = [
    "tests.fixtures.lexicons",
    "tests.fixtures.pds",
    "tests.fixtures.s3",
]
