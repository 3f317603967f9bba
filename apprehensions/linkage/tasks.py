"""Celery tasks: they take ids, call discovery and return its counts. No logic here."""

from celery import shared_task

from .discovery import discover_links


@shared_task(name="linkage.discover_links")
def discover_links_all() -> dict[str, int]:
    """The nightly full pass over every person (idempotent: pairs on file are not filed again)."""
    result = discover_links()
    return {**result.by_kind(), "created": result.created}


@shared_task(name="linkage.discover_links_for")
def discover_links_for(person_ids: list[str]) -> dict[str, int]:
    """The incremental pass for persons just recorded by a large import."""
    result = discover_links(person_ids=person_ids)
    return {**result.by_kind(), "created": result.created}
