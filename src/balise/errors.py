"""Typed errors: each says what was wrong, and the HTTP layer maps it to a status."""

from __future__ import annotations


class BaliseError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description

    def as_dict(self) -> dict[str, str]:
        return {"title": self.title, "description": self.description}


class InvalidParameter(BaliseError):
    title = "Invalid parameter"

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"The \"{name}\" parameter is invalid. {reason}")
        self.name = name


class MissingParameter(BaliseError):
    title = "Missing parameter"

    def __init__(self, name: str) -> None:
        super().__init__(f"The \"{name}\" parameter is required.")
        self.name = name


class QueryTooLong(BaliseError):
    status = 413
    title = "Query too long"

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"Query too long, {length} chars, limit is {limit}")


class InvalidCsv(BaliseError):
    title = "Invalid CSV"


class InvalidParquet(BaliseError):
    title = "Invalid Parquet"


class FileTooLarge(BaliseError):
    status = 413
    title = "File too large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"The file is over the limit of {limit:,} bytes.")
        self.limit = limit


class TooManyRows(BaliseError):
    status = 413
    title = "Too many rows"

    def __init__(self, rows: int, limit: int) -> None:
        super().__init__(f"The file has {rows:,} lines, over the limit of {limit:,}.")
        self.limit = limit


class BodyTooLarge(BaliseError):
    status = 413
    title = "Body too large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body is over the limit of {limit:,} bytes.")
        self.limit = limit


class InvalidJson(BaliseError):
    title = "Invalid JSON"
