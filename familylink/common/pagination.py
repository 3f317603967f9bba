"""Page numbers the API accepts: 1 to 1,000,000 (a huge OFFSET is a database error, never a 500)."""

from typing import Any

from rest_framework.pagination import PageNumberPagination

from .errors import ValidationFailed

MAX_PAGE = 1_000_000


def page_number(value: Any, *, field: str = "page") -> int:
    """A page number from 1 to 1,000,000, else a 400 keyed by the parameter."""
    text = str(value if value is not None else "1").strip() or "1"
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
        raise ValidationFailed({field: [f"Use a page number from 1 to {MAX_PAGE:,}."]})
    return int(text)


class BoundedPageNumberPagination(PageNumberPagination):
    """DRF page numbers, refused with a 400 outside 1..1,000,000 (a huge OFFSET is a database error);
    `page=last` is the last page, as in DRF."""

    def get_page_number(self, request: Any, paginator: Any) -> Any:
        # DRF formats this 404 message with the page asked for; it also says which pages exist.
        self.invalid_page_message = (
            f"There is no page {{page_number}}; this list has pages 1 to {paginator.num_pages}. "
            "Follow the next and previous links, or ask for page=last."
        )
        raw = request.query_params.get(self.page_query_param)
        if raw in self.last_page_strings:
            return paginator.num_pages
        return page_number(raw, field=self.page_query_param)
