"""What the local host runs: the functions `function_app.app.get_functions()` declares.

The same metadata the Python worker hands the real host; there is no second list of
functions anywhere. Each trigger kind the host emulates has a small record here; HTTP
functions are served by localdev/http_host.py, and any other kind is named in a warning.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import re
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func

from localdev import ncrontab
from localdev.host_config import HostConfigError, resolve_setting_references
from payout_core.settings import PROJECT_ROOT, Settings

log = logging.getLogger("payout.host")

FUNCTION_APP_MODULE = "function_app"


@dataclass(frozen=True)
class BlobTriggerFunction:
    name: str
    arg_name: str
    container: str
    name_pattern: re.Pattern[str]
    connection_setting: str
    source: str  # "EventGrid" or "LogsAndContainerScan", as the binding says
    parameter_type: Any  # the annotation: an SDK type (BlobClient) or func.InputStream
    user_function: Callable[..., Any]

    @property
    def function_id(self) -> str:
        return f"Host.Functions.{self.name}"


@dataclass(frozen=True)
class QueueTriggerFunction:
    name: str
    arg_name: str
    queue_name: str
    connection_setting: str
    user_function: Callable[..., Any]

    @property
    def function_id(self) -> str:
        return f"Host.Functions.{self.name}"


@dataclass(frozen=True)
class TimerTriggerFunction:
    name: str
    arg_name: str
    schedule: ncrontab.CronSchedule
    run_on_startup: bool
    use_monitor: bool
    user_function: Callable[..., Any]

    @property
    def function_id(self) -> str:
        return f"Host.Functions.{self.name}"


@dataclass(frozen=True)
class HostedFunctions:
    blob_functions: list[BlobTriggerFunction] = field(default_factory=list)
    queue_functions: list[QueueTriggerFunction] = field(default_factory=list)
    timer_functions: list[TimerTriggerFunction] = field(default_factory=list)


def load_function_app(module_name: str = FUNCTION_APP_MODULE) -> func.FunctionApp:
    """Import the app the way the Python worker indexes it: `function_app.app`."""
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    module = importlib.import_module(module_name)
    app = getattr(module, "app", None)
    if not isinstance(app, func.FunctionApp):
        raise HostConfigError(f"{module_name}.app is not an azure.functions.FunctionApp")
    return app


def indexed_functions(app: func.FunctionApp) -> list[func.Function]:
    """`app.get_functions()`, callable more than once per process.

    azure-functions 1.26 remembers the names get_functions() validated, so a second call
    (a second host in one process, or a test) fails with "does not have a unique function
    name". The worker indexes once per process; forgetting that memo restores its view.
    """
    app.functions_bindings = None
    return app.get_functions()


def blob_path_pattern(pattern: str) -> re.Pattern[str]:
    """`{name}` binding expressions match the rest of a blob name, slashes included."""
    parts = re.split(r"(\{[^}]+\})", pattern)
    regex = "".join(
        f"(?P<{part[1:-1]}>.+)" if part.startswith("{") else re.escape(part) for part in parts
    )
    return re.compile(f"^{regex}$")


def parameter_type(user_function: Callable[..., Any], arg_name: str) -> Any:
    """The annotation of the bound parameter: it decides what the worker passes."""
    try:
        hints = typing.get_type_hints(user_function)
    except Exception:  # an unresolvable forward reference: fall back to the raw annotation
        hints = {}
    if arg_name in hints:
        return hints[arg_name]
    parameter = inspect.signature(user_function).parameters.get(arg_name)
    return None if parameter is None else parameter.annotation


def discover_functions(app: func.FunctionApp, settings: Settings) -> HostedFunctions:
    hosted = HostedFunctions()
    for function in indexed_functions(app):
        trigger = function.get_trigger()
        binding = trigger.get_dict_repr() if trigger else {}
        builder = _BUILDERS.get(binding.get("type", ""))
        if binding.get("type") == "httpTrigger":
            continue  # served by localdev/http_host.py (`payout host --http-port N`)
        if builder is None:
            log.warning(
                "function %s: trigger %r is not run by the local host",
                function.get_function_name(),
                binding.get("type"),
            )
            continue
        builder(hosted, function, binding, settings)
    return hosted


def _blob(hosted: HostedFunctions, function: func.Function, binding: dict, settings: Settings):
    path = resolve_setting_references(binding["path"], settings)
    container, _, name_pattern = path.partition("/")
    user_function = function.get_user_function()
    hosted.blob_functions.append(
        BlobTriggerFunction(
            name=function.get_function_name(),
            arg_name=binding["name"],
            container=container,
            name_pattern=blob_path_pattern(name_pattern or "{name}"),
            connection_setting=binding["connection"],
            source=str(binding.get("source") or "LogsAndContainerScan"),
            parameter_type=parameter_type(user_function, binding["name"]),
            user_function=user_function,
        )
    )


def _queue(hosted: HostedFunctions, function: func.Function, binding: dict, settings: Settings):
    hosted.queue_functions.append(
        QueueTriggerFunction(
            name=function.get_function_name(),
            arg_name=binding["name"],
            queue_name=resolve_setting_references(binding["queueName"], settings),
            connection_setting=binding.get("connection") or "AzureWebJobsStorage",
            user_function=function.get_user_function(),
        )
    )


def _timer(hosted: HostedFunctions, function: func.Function, binding: dict, settings: Settings):
    expression = resolve_setting_references(binding["schedule"], settings)
    hosted.timer_functions.append(
        TimerTriggerFunction(
            name=function.get_function_name(),
            arg_name=binding["name"],
            schedule=ncrontab.parse(expression),
            run_on_startup=bool(binding.get("runOnStartup") or False),
            use_monitor=binding.get("useMonitor") is not False,
            user_function=function.get_user_function(),
        )
    )


_BUILDERS = {"blobTrigger": _blob, "queueTrigger": _queue, "timerTrigger": _timer}
