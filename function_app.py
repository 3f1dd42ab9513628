"""The Azure Functions doorway (Python v2 model): bindings, and one call into payout_core.

Bindings name settings, never values: `%MIS_CONTAINER%`, `MisStorage` and
`%SUMMARY_SCHEDULE%` are app settings (payout_core/settings.py; the real host fails
indexing when a `%SETTING%` is unset, so a deployment must set them). payout_core's
heavy parts are imported inside each function so that indexing, which the host does at
every cold start, loads no Polars and no database driver.

The pattern for a new trigger: a decorator naming settings, a function of two lines
that imports `payout_core.flows.triggers` and calls one body there. The failure policy
(record and quarantine, or raise for a retry) lives in that body, not here.
The same `app` is what `payout host` (localdev/) reads to emulate the host locally.
"""

import azure.functions as func

# SDK-type bindings: the trigger hands over a BlobClient, so the host never reads the
# blob's content (no whole file in memory, no 2 GiB gRPC limit); payout_core streams it.
import azurefunctions.extensions.bindings.blob as blob_types

from payout_core import settings

# Running in Azure, a missing required app setting stops indexing here, naming it.
settings.check_deployment()

app = func.FunctionApp()

# The host's poison queue for blob triggers, in the trigger's storage account.
BLOB_POISON_QUEUE = "webjobs-blobtrigger-poison"
# Event Grid by default (Flex Consumption supports nothing else); see README.
BLOB_SOURCE = func.BlobSource(settings.blob_trigger_source())


@app.blob_trigger(
    arg_name="blob",
    path="%MIS_CONTAINER%/{name}",
    connection="MisStorage",
    source=BLOB_SOURCE,
)
def mis_uploaded(blob: blob_types.BlobClient) -> None:
    """An MIS file landed in the inbox: compute and record its payouts."""
    from payout_core.flows import triggers

    triggers.handle_mis_blob(f"{blob.container_name}/{blob.blob_name}")


@app.queue_trigger(arg_name="message", queue_name=BLOB_POISON_QUEUE, connection="MisStorage")
def blob_poisoned(message: func.QueueMessage) -> None:
    """A blob failed on every attempt: record why and move it aside."""
    from payout_core.flows import triggers

    triggers.handle_poisoned_blob(message.get_json(), dequeue_count=message.dequeue_count or 1)


@app.blob_trigger(
    arg_name="blob",
    path="%REMITTANCE_CONTAINER%/{name}",
    connection="MisStorage",
    source=BLOB_SOURCE,
)
def remittance_uploaded(blob: blob_types.BlobClient) -> None:
    """A bank's remittance file landed (money in): match it against the payin owed."""
    from payout_core.flows import triggers

    triggers.handle_remittance_blob(f"{blob.container_name}/{blob.blob_name}")


@app.blob_trigger(
    arg_name="blob",
    path="%WALLET_CONFIRMATION_CONTAINER%/{name}",
    connection="MisStorage",
    source=BLOB_SOURCE,
)
def wallet_confirmation_uploaded(blob: blob_types.BlobClient) -> None:
    """The wallet team's confirmations landed (money out): record each credit's answer."""
    from payout_core.flows import triggers

    triggers.handle_wallet_confirmation_blob(f"{blob.container_name}/{blob.blob_name}")


@app.timer_trigger(
    arg_name="timer", schedule="%SUMMARY_SCHEDULE%", run_on_startup=False, use_monitor=True
)
def iteration_summary(timer: func.TimerRequest) -> None:
    """Email finance the summary of everything processed since the last iteration."""
    from payout_core.flows import triggers

    triggers.run_summary_timer(past_due=timer.past_due)


@app.route(route="review", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
def review(req: func.HttpRequest) -> func.HttpResponse:
    """Finance's review page: held payout events, approved or rejected in a browser.

    Anonymous at the Functions level because App Service Authentication (Easy Auth) stands
    in front of it in Azure and hands over the signed-in person in X-MS-CLIENT-PRINCIPAL-*
    headers; the page refuses any request that arrives without one.
    """
    from payout_core import review

    return review.handle_request(req)
