"""Typed errors: each carries its HTTP status and Addok's wording."""

from __future__ import annotations

from balise.errors import BodyTooLarge, FileTooLarge, InvalidParameter, MissingParameter, QueryTooLong


def test_errors_say_what_was_wrong_with_their_status():
    invalid = InvalidParameter("limit", "out of range (1..100)")
    assert (invalid.status, invalid.name) == (400, "limit")
    assert invalid.as_dict() == {"title": "Invalid parameter",
                                 "description": 'The "limit" parameter is invalid. out of range (1..100)'}
    assert MissingParameter("q").description == 'The "q" parameter is required.'
    assert QueryTooLong(201, 200).status == 413
    assert QueryTooLong(201, 200).description == "Query too long, 201 chars, limit is 200"
    assert FileTooLarge(1000).status == BodyTooLarge(10).status == 413
    assert "1,000" in FileTooLarge(1000).description
