"""The immutable index: its format, writer and memory-mapped reader."""

from .documents import DocumentError
from .reader import IndexFormatError, IndexReader
from .writer import IndexWriter

__all__ = ["DocumentError", "IndexFormatError", "IndexReader", "IndexWriter"]
