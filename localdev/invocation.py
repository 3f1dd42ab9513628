"""One function invocation, logged the way the Functions host logs it."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from azure.core.exceptions import AzureError

from payout_core.errors import PayoutError

log = logging.getLogger("payout.host")


def invoke(
    name: str, user_function: Callable[..., Any], arguments: dict[str, Any], *, reason: str
) -> BaseException | None:
    """Call the function; return the exception it raised, or None when it succeeded."""
    invocation_id = uuid.uuid4()
    log.info("Executing 'Functions.%s' (Reason='%s', Id=%s)", name, reason, invocation_id)
    started = time.monotonic()
    try:
        user_function(**arguments)
    except Exception as error:
        # The app's own errors and the Azure SDK's say what happened; a traceback is for
        # anything else (a bug), or for --verbose.
        expected = isinstance(error, PayoutError | AzureError)
        log.error(
            "Executed 'Functions.%s' (Failed, Id=%s, Duration=%.0fms): %s",
            name,
            invocation_id,
            (time.monotonic() - started) * 1000,
            error,
            exc_info=not expected or log.isEnabledFor(logging.DEBUG),
        )
        return error
    log.info(
        "Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%.0fms)",
        name,
        invocation_id,
        (time.monotonic() - started) * 1000,
    )
    return None
