"""Finance's review page (`/api/review`): held payout events, approved or rejected in a browser.

- identity.py: who is asking, as App Service Authentication (Easy Auth) says it in headers
- forms.py: the page's own forms only (CSRF tokens bound to the person, Origin check,
  signed result messages)
- view.py: pure: held and decided events -> what the page shows (filters, totals, ages)
- html.py: pure: that view -> escaped HTML, with its Content-Security-Policy
- handler.py: the request: GET shows, POST decides through ledger.holds.decide (the same
  code as `payout holds approve|reject`), then redirects back to GET with the result
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import azure.functions as func


def handle_request(request: func.HttpRequest) -> func.HttpResponse:
    from payout_core.review.handler import handle_request as handle

    return handle(request)
