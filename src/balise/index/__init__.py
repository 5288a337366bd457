"""The immutable index: its format, writer and memory-mapped reader."""

from .reader import IndexFormatError, IndexReader
from .writer import DocumentError, IndexWriter

__all__ = ["DocumentError", "IndexFormatError", "IndexReader", "IndexWriter"]
