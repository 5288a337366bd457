"""Text processing: normalization, country rules and the token pipeline."""

from .pipeline import Pipeline, Token, ascii_label

RULES = {"fr": "balise.text.french"}


def make_pipeline(rules: str = "fr") -> Pipeline:
    """The pipeline of a country's rules, chosen by name (settings pick the name)."""
    from importlib import import_module

    if rules not in RULES:
        raise ValueError(f"unknown text rules {rules!r}; known: {', '.join(RULES)}")
    return import_module(RULES[rules]).make_pipeline()  # type: ignore[no-any-return]


__all__ = ["Pipeline", "Token", "ascii_label", "make_pipeline"]
