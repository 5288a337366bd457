"""Streaming readers that turn address files (NDJSON, BAN CSV, BANO CSV) into Addok documents."""
