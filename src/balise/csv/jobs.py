"""What is done with a chunk of rows where the index is (this process, or a worker process): each
row parsed into its request, answered, and the answers turned into output (:class:`CsvJob`:
the text of the output rows; ``table.TableJob``: typed result columns), so that the process
that reads and writes the file only moves rows and bytes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

from .answers import RowGeocoder
from .plan import Failed, Outcome, Plan, Row


class Done(NamedTuple):
    """A chunk geocoded: its output, how many rows were found, and the rows that failed or
    were skipped (by position in the chunk)."""

    output: Any
    found: int
    failures: list[tuple[int, Failed]]


class Job(Protocol):
    """A chunk's rows to their output; built once from the header, sent to each worker."""

    def __call__(self, geocode: RowGeocoder, rows: Sequence[Row], problems: dict[int, Failed]) -> Done: ...


def answer(plan: Plan, geocode: RowGeocoder, rows: Sequence[Row], problems: dict[int, Failed]
           ) -> list[Outcome]:
    """Each row's outcome: a row with a problem keeps it, the others are parsed, then
    answered together (see RowGeocoder)."""
    request_of = plan.request
    if problems:
        return geocode([problems[i] if i in problems else request_of(row) for i, row in enumerate(rows)])
    return geocode([request_of(row) for row in rows])


def tally(outcomes: list[Outcome]) -> tuple[int, list[tuple[int, Failed]]]:
    """(rows found, (position, failure) of the rows that failed or were skipped)."""
    failures = [(i, o) for i, o in enumerate(outcomes) if isinstance(o, Failed)]
    found = sum(o.__class__ is tuple for o in outcomes)
    return found, failures


class CsvJob:
    """A CSV chunk's rows to the text of its output rows, in the input's dialect."""

    def __init__(self, plan: Plan, delimiter: str, quote: str, quote_all: bool) -> None:
        self.plan, self.delimiter, self.quote, self.quote_all = plan, delimiter, quote, quote_all

    def writer(self, buffer: io.StringIO) -> Any:
        return csv.writer(buffer, delimiter=self.delimiter, quotechar=self.quote, lineterminator="\r\n",
                          quoting=csv.QUOTE_ALL if self.quote_all else csv.QUOTE_MINIMAL)

    def __call__(self, geocode: RowGeocoder, rows: Sequence[Row], problems: dict[int, Failed]) -> Done:
        outcomes = answer(self.plan, geocode, rows, problems)
        output = self.plan.output
        text = self.format([output(row, outcome) for row, outcome in zip(rows, outcomes, strict=True)])
        return Done(text, *tally(outcomes))

    def format(self, rows: list[list[str]]) -> str:
        """The rows as CSV text, exactly as ``csv.writer`` writes them.

        PERF: csv.writer takes about 6 us for a row of 25 cells; a row none of whose cells
        holds the quote or a line end (nearly all) is joined in about 1 us, its cells that
        hold the delimiter quoted, and the others go through csv.writer.
        """
        delimiter, quote = self.delimiter, self.quote
        glue = quote + delimiter + quote if self.quote_all else delimiter
        lines, slow, buffer = [], None, None
        for row in rows:
            line = glue.join(row)
            plain = line.count(quote) == 2 * len(row) - 2 if self.quote_all else quote not in line
            if plain and len(row) > 1 and "\n" not in line and "\r" not in line:
                if self.quote_all:
                    line = f"{quote}{line}{quote}"
                elif line.count(delimiter) != len(row) - 1:  # a cell holds the delimiter: quoted
                    line = delimiter.join([f"{quote}{c}{quote}" if delimiter in c else c for c in row])
                lines.append(line + "\r\n")
                continue
            if slow is None:
                buffer = io.StringIO()
                slow = self.writer(buffer)
            assert buffer is not None
            slow.writerow(row)
            lines.append(buffer.getvalue())
            buffer.seek(0)
            buffer.truncate()
        return "".join(lines)


Submitted = Callable[[], Done]  # waits for a chunk's Done


class Executor(Protocol):
    """Where chunks are geocoded: this process, or worker processes (``parallel.Workers``)."""

    def submit(self, rows: Sequence[Row], problems: dict[int, Failed]) -> Submitted: ...

    def drain(self) -> None:
        """No more chunks will be submitted."""

    def close(self, completed: bool) -> None: ...


class InProcess:
    """Geocodes a chunk right away, in this process."""

    def __init__(self, job: Job, geocode: RowGeocoder) -> None:
        self.job, self.geocode = job, geocode

    def submit(self, rows: Sequence[Row], problems: dict[int, Failed]) -> Submitted:
        done = self.job(self.geocode, rows, problems)
        return lambda: done

    def drain(self) -> None:
        pass

    def close(self, completed: bool) -> None:
        pass
