"""Reading a CSV file: its encoding detected, its delimiter sniffed, its header read, then its
rows one at a time, each with what is wrong with it (never an exception for one bad row).

A line is at most ``MAX_LINE_BYTES`` (64 KiB): a longer one is a row in error, skipped
without being held (a 44 MB file of two such lines took a worker from 60 to 390 MiB), and a
longer header makes the file a 400."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, islice
from typing import IO

from ..errors import InvalidCsv
from .options import CsvOptions
from .plan import Failed

DELIMITERS = ",;|\t"
HEAD_BYTES = 64 * 1024  # what encoding and delimiter detection look at
MAX_LINE_BYTES = 64 * 1024  # the longest line read (a row in error beyond; the header: 400)
MISSING_DELIMITER = 'Unable to detect the delimiter; give one with the "delimiter" parameter.'
# NOTE: UTF-32's little-endian mark starts with UTF-16's: it is looked for first.
BYTE_ORDER_MARKS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"),
                    (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
                    (codecs.BOM_UTF16_BE, "utf-16"))


class LongLine(bytes):
    """What stands for a line over ``MAX_LINE_BYTES`` (its length), never read whole."""


def detect_encoding(head: Sequence[bytes]) -> str:
    """By its byte order mark (UTF-8, UTF-32, UTF-16); else UTF-8 unless most non-ASCII lines
    are not UTF-8, then cp1252, or latin-1 when a byte is undefined in cp1252. Broken UTF-8
    lines stay bad rows. A head in ASCII decides nothing: see :func:`_decode_late`."""
    for mark, encoding in BYTE_ORDER_MARKS:
        if head and head[0].startswith(mark):
            return encoding
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


def _raw_lines(source: IO | Iterable) -> Iterator:
    """The lines of a file (bytes or text), a line over ``MAX_LINE_BYTES`` skipped as it is
    read and given as a :class:`LongLine`."""
    readline = getattr(source, "readline", None)
    if readline is None:
        for line in source:
            yield LongLine(b"%d" % len(line)) if len(line) > MAX_LINE_BYTES else line
        return
    while line := readline(MAX_LINE_BYTES + 1):
        if len(line) <= MAX_LINE_BYTES:
            yield line
            continue
        size, newline = len(line), b"\n" if isinstance(line, bytes) else "\n"
        while line and not line.endswith(newline):  # the rest of it, a piece at a time
            line = readline(MAX_LINE_BYTES)
            size += len(line)
        yield LongLine(b"%d" % size)


Decoded = tuple[str, bool | None]  # a line, and whether it decoded cleanly (None: it was too long)


def _decode_lines(raw: Iterator[bytes], encoding: str) -> Iterator[Decoded]:
    """(line, decoded cleanly); an undecodable line is kept with replacement characters."""
    for line in raw:
        if isinstance(line, LongLine):
            yield "\n", None
            continue
        try:
            yield line.decode(encoding), True
        except UnicodeDecodeError:
            yield line.decode(encoding, "replace"), False


def _decode_late(raw: Iterator[bytes]) -> Iterator[Decoded]:
    """A file whose head is ASCII: its encoding is decided by its first non-ASCII line, as
    :func:`detect_encoding` decides on a head, then kept for every line after it."""
    encoding = "ascii"
    for line in raw:
        if isinstance(line, LongLine):
            yield "\n", None
            continue
        if encoding == "ascii" and not line.isascii():
            encoding = detect_encoding([line])
        try:
            yield line.decode(encoding), True
        except UnicodeDecodeError:
            yield line.decode(encoding, "replace"), False


def _decode_wide(raw: Iterator[bytes], encoding: str) -> Iterator[Decoded]:
    """UTF-16/32: bytes split on b"\\n" are not lines, so decode the stream, then split; a
    line of more than ``MAX_LINE_BYTES`` characters is dropped as it grows."""
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    pending, long = "", False
    for chunk in chain(raw, [b""]):
        text = decoder.decode(b"" if isinstance(chunk, LongLine) else chunk, final=not chunk)
        *lines, pending = (pending + text).split("\n")
        for line in lines:
            yield ("\n", None) if long else (line + "\n", "\ufffd" not in line)
            long = False
        if len(pending) > MAX_LINE_BYTES or isinstance(chunk, LongLine):
            pending, long = "", True
    if pending or long:
        yield ("\n", None) if long else (pending, "\ufffd" not in pending)


class _Feed:
    """The decoded lines given to csv.reader; remembers whether an undecodable or a too long
    one went by."""

    def __init__(self, lines: Iterator[Decoded]) -> None:
        self._lines = lines
        self.bad = False
        self.long = False

    def __iter__(self) -> Iterator[str]:
        for line, ok in self._lines:
            if ok is None:
                self.long = True
            else:
                self.bad |= not ok
            yield line


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
    """A CSV source opened: encoding, dialect and header known, then rows one at a time."""

    def __init__(self, source: IO | Iterable, options: CsvOptions) -> None:
        raw = _raw_lines(source)
        head: list = []
        for line in raw:
            head.append(line)
            if sum(map(len, head)) >= HEAD_BYTES:
                break
        complete = sum(map(len, head)) < HEAD_BYTES
        self.bytes_read = 0
        lines = self._counted(chain(head, raw))
        if head and isinstance(head[0], LongLine):
            raise InvalidCsv(f"The header line is over {MAX_LINE_BYTES:,} bytes.")
        decoded: Iterator[Decoded]
        if head and isinstance(head[0], str):
            self.encoding = codecs.lookup(options.encoding or "utf-8").name
            decoded = ((line, None) if isinstance(line, LongLine) else (line, True) for line in lines)
        else:
            self.encoding = codecs.lookup(options.encoding or detect_encoding(head)).name
            if self.encoding.startswith(("utf-16", "utf-32")):
                decoded = _decode_wide(lines, self.encoding)
            elif options.encoding is None and all(line.isascii() for line in head):
                decoded = _decode_late(lines)  # written out as UTF-8 whatever comes later
            else:
                decoded = _decode_lines(lines, "utf-8" if self.encoding == "utf-8-sig" else self.encoding)
        sample = list(islice(decoded, max(1, len(head))))
        if sample and sample[0][1] is None:
            raise InvalidCsv(f"The header line is over {MAX_LINE_BYTES:,} bytes.")
        if sample and sample[0][0].startswith("\ufeff"):
            sample[0] = (sample[0][0][1:], sample[0][1])  # a UTF-8 BOM, whatever was declared
        texts = [text for text, _ in sample]
        if not any(text.strip() for text in texts):
            raise InvalidCsv("The file is empty.")
        self.delimiter = options.delimiter or sniff_delimiter(texts, options.quote, complete)
        self.quote = options.quote
        self.feed = _Feed(chain(sample, decoded))
        self.reader = csv.reader(self.feed, delimiter=self.delimiter, quotechar=self.quote,
                                 doublequote=True, strict=False)
        try:
            header = next((r for r in self.reader if r), None)
        except csv.Error as e:
            raise InvalidCsv(f"Cannot read the header: {e}") from None
        if header is None:
            raise InvalidCsv("The file is empty.")
        self.header: list[str] = header
        self.feed.bad = False
        first = next(text for text in texts if text.strip()).rstrip("\r\n")
        quoted = self.delimiter.join(
            self.quote + name.replace(self.quote, 2 * self.quote) + self.quote for name in header)
        self.quote_all = first == quoted  # NOTE: then the output quotes every field too

    def _counted(self, lines: Iterable) -> Iterator:
        for line in lines:
            self.bytes_read += len(line)
            yield line

    def rows(self) -> Iterator[tuple[list[str], Failed | None, int]]:
        """(fields, what is wrong with the row or None, line number), blank lines skipped."""
        while True:
            problem = None
            try:
                row = next(self.reader)
            except StopIteration:
                return
            except csv.Error as e:
                row, problem = [], Failed("unreadable CSV", str(e))
            if self.feed.long:
                self.feed.long = self.feed.bad = False
                row, problem = [], Failed("row too long", f"a line over {MAX_LINE_BYTES:,} bytes")
            if self.feed.bad:
                self.feed.bad = False
                problem = problem or Failed("undecodable", f"not {self.encoding}")
            if not row and problem is None:
                continue
            if problem is None and len(row) != len(self.header):
                detail = f"{len(row)} columns, the header has {len(self.header)}"
                problem = Failed("wrong column count", detail)
            yield row, problem, self.reader.line_num
