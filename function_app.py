"""The Azure Functions doorway (Python v2 model): bindings, and one call into payout_core.

Bindings name settings, never values: `%MIS_CONTAINER%`, `MisStorage` and
`%SUMMARY_SCHEDULE%` are app settings (defaults and meanings in payout_core/settings.py).
payout_core is imported inside each function so that indexing this module, which the
host does at every cold start, loads nothing heavy (no Polars, no database driver).
The same `app` is what `payout host` reads to emulate the host locally.
"""

import azure.functions as func

app = func.FunctionApp()


@app.blob_trigger(arg_name="blob", path="%MIS_CONTAINER%/{name}", connection="MisStorage")
def mis_uploaded(blob: func.InputStream) -> None:
    """An MIS file landed in the inbox: compute and record its payouts.

    The content is streamed from Storage to a temporary file by payout_core, not read
    from `blob`. Bad files are recorded and quarantined; transient failures raise so the
    host retries (and poisons the blob after host.json's poisonBlobThreshold).
    """
    from payout_core import functions

    functions.handle_mis_blob(blob.name or "", blob_properties=blob.blob_properties)


@app.timer_trigger(
    arg_name="timer", schedule="%SUMMARY_SCHEDULE%", run_on_startup=False, use_monitor=True
)
def iteration_summary(timer: func.TimerRequest) -> None:
    """Email finance the summary of everything processed since the last iteration."""
    from payout_core import functions

    functions.run_summary_timer(past_due=timer.past_due)


@app.route(route="review", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
def review(req: func.HttpRequest) -> func.HttpResponse:
    """Finance's review page: held payout events, approved or rejected in a browser.

    Anonymous at the Functions level because App Service Authentication (Easy Auth) stands
    in front of it in Azure and hands over the signed-in person in X-MS-CLIENT-PRINCIPAL-*
    headers; the page refuses any request that arrives without one.
    """
    from payout_core import review

    return review.handle_request(req)
