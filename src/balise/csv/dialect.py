"""Reading a CSV file: its encoding detected, its delimiter sniffed, its header read, then its
rows a chunk at a time, each with what is wrong with it (never an exception for one bad row).

A line is at most ``MAX_LINE_BYTES`` (64 KiB): a longer one is a row in error, skipped
without being held (a 44 MB file of two such lines took a worker from 60 to 390 MiB), and a
longer header makes the file a 400. Lines are read, decoded and counted in batches of about
``BATCH_BYTES``, so that csv.reader pulls them with no Python frame per line."""

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
HEAD_BYTES = 64 * 1024  # what encoding detection looks at
# What delimiter detection parses, four times (PERF: the whole first batch, ~1,500 lines, took
# 3 ms of every job and upload; a table's first 16 KB show its delimiter as well).
SNIFF_BYTES = 16 * 1024
MAX_LINE_BYTES = 64 * 1024  # the longest line read (a row in error beyond; the header: 400)
BATCH_BYTES = 1 << 16  # raw lines are read, decoded and counted this many bytes at a time
CHUNK_BYTES = 1 << 20  # of input at most in a chunk (plus a batch): wide rows come fewer at a time
MISSING_DELIMITER = 'Unable to detect the delimiter; give one with the "delimiter" parameter.'
# NOTE: UTF-32's little-endian mark starts with UTF-16's: it is looked for first.
BYTE_ORDER_MARKS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"),
                    (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
                    (codecs.BOM_UTF16_BE, "utf-16"))


def detect_encoding(head: Sequence[bytes]) -> str:
    """By its byte order mark (UTF-8, UTF-32, UTF-16); else UTF-8 unless most non-ASCII lines
    are not UTF-8, then cp1252, or latin-1 when a byte is undefined in cp1252. Broken UTF-8
    lines stay bad rows. A head in ASCII decides nothing: see :class:`_Decoded`."""
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


class _RawLines:
    """The lines of a binary file (or of an iterable of lines) in lists of about BATCH_BYTES.

    A line over ``MAX_LINE_BYTES`` is dropped as it is read: a bare newline stands for it and
    its number is in ``long``. Once ``split`` is off (UTF-16/32, whose bytes split on b"\\n"
    are not lines), a file gives its blocks as they are read."""

    def __init__(self, source: IO[bytes] | Iterable[Any]) -> None:
        self._read = getattr(source, "read", None)
        self._lines = None if self._read else iter(source)
        self.long: set[int] = set()
        self.lines = 0  # lines given so far
        self.split = True
        self._pending = b""  # the start of a line not ended yet
        self._dropped = 0  # or the length of a long line dropped so far

    def __iter__(self) -> Iterator[list[Any]]:
        return self._from_file() if self._read else self._from_lines()

    def _from_lines(self) -> Iterator[list[Any]]:
        while batch := list(islice(self._lines, 1000)):  # type: ignore[arg-type]
            for i, line in enumerate(batch):
                if len(line) > MAX_LINE_BYTES:
                    batch[i] = "\n" if isinstance(line, str) else b"\n"
                    self.long.add(self.lines + i + 1)
            self.lines += len(batch)
            yield batch

    def _from_file(self) -> Iterator[list[bytes]]:
        read = self._read
        while block := read(BATCH_BYTES):  # type: ignore[misc]
            if not self.split:
                yield [self._pending + block] if self._pending else [block]
                self._pending = b""
                continue
            *ended, rest = block.split(b"\n")
            batch = [line + b"\n" for line in ended]
            if batch:  # the first line ended here began in the blocks before
                if self._dropped or len(self._pending) + len(batch[0]) > MAX_LINE_BYTES:
                    batch[0] = b"\n"
                    self.long.add(self.lines + 1)
                else:
                    batch[0] = self._pending + batch[0]
                self._pending, self._dropped = b"", 0
            if self._dropped or len(self._pending) + len(rest) > MAX_LINE_BYTES:
                self._pending, self._dropped = b"", self._dropped + len(rest) + 1
            else:
                self._pending += rest
            if batch:
                self.lines += len(batch)
                yield batch
        if self._dropped:
            self.long.add(self.lines + 1)
        if self._pending or self._dropped:
            self.lines += 1
            yield [b"\n" if self._dropped else self._pending]


class _Decoded:
    """Raw lines decoded in batches for csv.reader; an undecodable line is kept with
    replacement characters and its number (as the reader's ``line_num`` counts) is
    remembered, so that its row is marked bad. ``encoding`` None: the head was ASCII, and the
    first non-ASCII line decides, as :func:`detect_encoding` decides on a head."""

    def __init__(self, encoding: str | None) -> None:
        self.encoding = encoding
        self.bad: set[int] = set()
        self.long: set[int] = set()  # lines over MAX_LINE_BYTES (UTF-16/32)
        self.lines = 0  # lines decoded so far
        self.bytes_read = 0

    def batch(self, raw: list[Any]) -> list[str]:
        self.bytes_read += sum(map(len, raw))
        first, self.lines = self.lines, self.lines + len(raw)
        if raw and isinstance(raw[0], str):
            return raw
        if self.encoding is None:
            if all(line.isascii() for line in raw):
                return [line.decode("ascii") for line in raw]
            self.encoding = detect_encoding([next(line for line in raw if not line.isascii())])
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
        """UTF-16/32: the stream decoded, then split in lines; a line of more than
        ``MAX_LINE_BYTES`` characters is dropped as it grows."""
        decoder = codecs.getincrementaldecoder(self.encoding or "utf-16")("replace")
        pending, long = "", False
        for batch in chain(raw, [[b""]]):
            chunk = b"".join(batch)
            self.bytes_read += len(chunk)
            *complete, pending = (pending + decoder.decode(chunk, final=not chunk)).split("\n")
            lines = [line + "\n" for line in complete]
            if not chunk and pending:
                lines.append(pending)
            for number, line in enumerate(lines, self.lines + 1):
                if long:
                    lines[number - self.lines - 1], long = "\n", False
                    self.long.add(number)
                elif "\ufffd" in line:
                    self.bad.add(number)
            self.lines += len(lines)
            if len(pending) > MAX_LINE_BYTES:
                pending, long = "", True
            if long and not chunk:
                self.long.add(self.lines + 1)
                self.lines += 1
                lines.append("\n")
            yield lines


def _first_bytes(lines: list[Any], most: int) -> list[Any]:
    """The first lines holding ``most`` bytes (the one crossing it included)."""
    total = 0
    for i, line in enumerate(lines):
        total += len(line)
        if total >= most:
            return lines[:i + 1]
    return lines


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
        self._raw = _RawLines(source)
        raw = iter(self._raw)
        head: list[Any] = []
        for batch in raw:
            head += batch
            if sum(map(len, head)) >= HEAD_BYTES:
                break
        if 1 in self._raw.long:
            raise InvalidCsv(f"The header line is over {MAX_LINE_BYTES:,} bytes.")
        complete = sum(map(len, head)) < HEAD_BYTES
        text = bool(head) and isinstance(head[0], str)
        seen = _first_bytes(head, HEAD_BYTES)  # what detection looks at (a batch reads further)
        self.encoding = codecs.lookup(options.encoding or ("utf-8" if text else detect_encoding(seen))).name
        late = options.encoding is None and not text and all(line.isascii() for line in seen)
        decoding = None if late else "utf-8" if self.encoding == "utf-8-sig" else self.encoding
        self._decoded = _Decoded(decoding)  # NOTE: late, the output is UTF-8 whatever comes
        self._long = self._raw.long
        lines: Iterator[list[str]]
        if not text and self.encoding.startswith(("utf-16", "utf-32")):
            self._raw.split = False
            self._long = self._decoded.long
            lines = self._decoded.wide(chain([head], raw))
            sample = next(lines, [])
            if 1 in self._long:
                raise InvalidCsv(f"The header line is over {MAX_LINE_BYTES:,} bytes.")
        else:
            sample = self._decoded.batch(head)
            lines = map(self._decoded.batch, raw)
        if sample and sample[0].startswith("\ufeff"):
            sample[0] = sample[0][1:]  # a UTF-8 BOM, whatever was declared
        if not any(line.strip() for line in sample):
            raise InvalidCsv("The file is empty.")
        sniffed = _first_bytes(sample, SNIFF_BYTES)
        complete = complete and len(sniffed) == len(sample)
        self.delimiter = options.delimiter or sniff_delimiter(sniffed, options.quote, complete)
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
        """The rows in chunks of ``size`` (fewer when they hold over ``CHUNK_BYTES`` of input),
        blank lines skipped; a row that has a problem (not decodable, too long, unreadable, a
        wrong column count) is in the chunk's ``problems``."""
        reader, width, bad, long = self.reader, len(self.header), self._decoded.bad, self._long
        last = reader.line_num
        while True:
            rows: list[Row] = []
            lines: list[int] = []
            problems: dict[int, Failed] = {}
            start = self._decoded.bytes_read
            while len(rows) < size and self._decoded.bytes_read - start < CHUNK_BYTES:
                problem = None
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as e:
                    row, problem = [], Failed("unreadable CSV", str(e))
                number = reader.line_num
                if long and any(n in long for n in range(last + 1, number + 1)):
                    row, problem = [], Failed("row too long", f"a line over {MAX_LINE_BYTES:,} bytes")
                elif bad and any(n in bad for n in range(last + 1, number + 1)):
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
