"""Shared fixtures live in tests/fixtures/, one module per real peer (lexicon tree, PDS, S3, PostgreSQL)."""

pytest_plugins = [
    "tests.fixtures.lexicons",
    "tests.fixtures.pds",
    "tests.fixtures.postgres",
    "tests.fixtures.s3",
]
