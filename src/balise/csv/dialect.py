"""Reading a CSV file: its encoding detected, its delimiter sniffed, its header read, then its
rows one at a time, each with what is wrong with it (never an exception for one bad row)."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, islice
from typing import IO, Any

from ..errors import InvalidCsv
from .options import CsvOptions
from .plan import Chunk, Failed, Row

DELIMITERS = ",;|\t"
HEAD_BYTES = 64 * 1024  # what encoding and delimiter detection look at
MISSING_DELIMITER = 'Unable to detect the delimiter; give one with the "delimiter" parameter.'


def detect_encoding(head: Sequence[bytes]) -> str:
    """UTF-8 (with BOM: utf-8-sig) unless most non-ASCII lines are not UTF-8; then cp1252,
    or latin-1 when a byte is undefined in cp1252. Broken UTF-8 lines stay bad rows."""
    if head and head[0].startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head and head[0].startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    good = bad = 0
    for line in head:
        if not line.isascii():
            try:
                line.decode("utf-8")
                good += 1
            except UnicodeDecodeError:
                bad += 1
    if good >= bad:
        return "utf-8"
    try:
        b"".join(head).decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


BATCH_BYTES = 1 << 16  # raw lines are read, decoded and counted this many bytes at a time


def _raw_batches(source: IO[bytes] | Iterable[Any]) -> Iterator[list[Any]]:
    """The lines of a binary file (or of an iterable of lines) in lists of about BATCH_BYTES."""
    readlines = getattr(source, "readlines", None)
    if readlines is None:
        lines = iter(source)
        while batch := list(islice(lines, 1000)):
            yield batch
        return
    while batch := readlines(BATCH_BYTES):
        yield batch


class _Decoded:
    """Raw lines decoded in batches for csv.reader, which pulls them with no Python frame per
    line; an undecodable line is kept with replacement characters and its number (as the
    reader's ``line_num`` counts) is remembered, so that its row is marked bad."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.bad: set[int] = set()
        self.lines = 0  # lines decoded so far
        self.bytes_read = 0

    def batch(self, raw: list[Any]) -> list[str]:
        self.bytes_read += sum(map(len, raw))
        first, self.lines = self.lines, self.lines + len(raw)
        if raw and isinstance(raw[0], str):
            return raw
        try:
            return [line.decode(self.encoding) for line in raw]
        except UnicodeDecodeError:
            pass
        decoded = []
        for number, line in enumerate(raw, first + 1):
            try:
                decoded.append(line.decode(self.encoding))
            except UnicodeDecodeError:
                decoded.append(line.decode(self.encoding, "replace"))
                self.bad.add(number)
        return decoded

    def wide(self, raw: Iterator[list[Any]]) -> Iterator[list[str]]:
        """UTF-16/32: bytes split on b"\\n" are not lines, so decode the stream, then split."""
        decoder = codecs.getincrementaldecoder(self.encoding)("replace")
        pending = ""
        for batch in chain(raw, [[b""]]):
            chunk = b"".join(batch)
            self.bytes_read += len(chunk)
            *complete, pending = (pending + decoder.decode(chunk, final=not chunk)).split("\n")
            lines = [line + "\n" for line in complete]
            if not chunk and pending:
                lines.append(pending)
            for number, line in enumerate(lines, self.lines + 1):
                if "\ufffd" in line:
                    self.bad.add(number)
            self.lines += len(lines)
            yield lines


def sniff_delimiter(sample: Sequence[str], quote: str = '"', complete: bool = True) -> str:
    """The candidate splitting the header in columns that most rows have too.

    A file whose header is one column under every candidate is a one-column file: it gets the
    first candidate absent from the sample. A header split by some candidate while the rows
    do not follow raises InvalidCsv (400): the caller must say which delimiter.
    """
    candidates, split = [], False
    for rank, delimiter in enumerate(DELIMITERS):
        try:
            widths = [len(r) for r in csv.reader(sample, delimiter=delimiter, quotechar=quote) if r]
        except csv.Error:
            continue
        if not complete and len(widths) > 2:
            widths.pop()  # the sample may end inside a quoted field
        if not widths or widths[0] < 2:
            continue
        split = True
        rows = widths[1:] or widths[:1]
        share = sum(w == widths[0] for w in rows) / len(rows)
        if share >= 0.5:
            candidates.append((share, widths[0], -rank, delimiter))
    if candidates:
        return max(candidates)[-1]
    if split:
        raise InvalidCsv(MISSING_DELIMITER)
    return next((d for d in DELIMITERS if not any(d in line for line in sample)), ",")


class Input:
    """A CSV source opened: encoding, dialect and header known, then rows a chunk at a time."""

    def __init__(self, source: IO[bytes] | Iterable[Any], options: CsvOptions) -> None:
        raw = _raw_batches(source)
        head: list[Any] = []
        for batch in raw:
            head += batch
            if sum(map(len, head)) >= HEAD_BYTES:
                break
        complete = sum(map(len, head)) < HEAD_BYTES
        text = bool(head) and isinstance(head[0], str)
        declared = options.encoding or ("utf-8" if text else detect_encoding(head))
        self.encoding = codecs.lookup(declared).name
        self._decoded = _Decoded("utf-8" if self.encoding == "utf-8-sig" else self.encoding)
        lines: Iterator[list[str]]
        if not text and self.encoding.startswith(("utf-16", "utf-32")):
            lines = self._decoded.wide(chain([head], raw))
            sample = next(lines, [])
        else:
            sample = self._decoded.batch(head)
            lines = map(self._decoded.batch, raw)
        if sample and sample[0].startswith("\ufeff"):
            sample[0] = sample[0][1:]  # a UTF-8 BOM, whatever was declared
        if not any(line.strip() for line in sample):
            raise InvalidCsv("The file is empty.")
        self.delimiter = options.delimiter or sniff_delimiter(sample, options.quote, complete)
        self.quote = options.quote
        self.reader = csv.reader(chain.from_iterable(chain([sample], lines)), delimiter=self.delimiter,
                                 quotechar=self.quote, doublequote=True, strict=False)
        try:
            header = next((r for r in self.reader if r), None)
        except csv.Error as e:
            raise InvalidCsv(f"Cannot read the header: {e}") from None
        if header is None:
            raise InvalidCsv("The file is empty.")
        self.header: list[str] = header
        self._decoded.bad = {n for n in self._decoded.bad if n > self.reader.line_num}
        first = next(line for line in sample if line.strip()).rstrip("\r\n")
        quoted = self.delimiter.join(
            self.quote + name.replace(self.quote, 2 * self.quote) + self.quote for name in header)
        self.quote_all = first == quoted  # NOTE: then the output quotes every field too

    @property
    def bytes_read(self) -> int:
        return self._decoded.bytes_read

    def skip(self, rows: int) -> None:
        """Read ``rows`` rows (as ``chunks`` counts them) and drop them: a job resumed."""
        while rows > 0:
            chunk = next(self.chunks(min(rows, 10_000)), None)
            if chunk is None:
                return
            rows -= len(chunk.rows)

    def chunks(self, size: int) -> Iterator[Chunk]:
        """The rows in chunks of ``size``, blank lines skipped; a row that has a problem (not
        decodable, unreadable, a wrong column count) is in the chunk's ``problems``."""
        reader, width, bad = self.reader, len(self.header), self._decoded.bad
        last = reader.line_num
        while True:
            rows: list[Row] = []
            lines: list[int] = []
            problems: dict[int, Failed] = {}
            while len(rows) < size:
                problem = None
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as e:
                    row, problem = [], Failed("unreadable CSV", str(e))
                number = reader.line_num
                if bad and any(n in bad for n in range(last + 1, number + 1)):
                    problem = problem or Failed("undecodable", f"not {self.encoding}")
                last = number
                if not row and problem is None:
                    continue
                if problem is None and len(row) != width:
                    problem = Failed("wrong column count", f"{len(row)} columns, the header has {width}")
                if problem is not None:
                    problems[len(rows)] = problem
                rows.append(row)
                lines.append(number)
            if not rows:
                return
            yield Chunk(rows, lines, problems)
