"""The ERP API application.

``supplyplan serve --config FILE`` runs ``uvicorn.run(create_app(settings), host, port)``.
For other ASGI servers, ``uvicorn --factory pipelines.api.app:app_from_env`` reads the
configuration named by ``SUPPLYPLAN_CONFIG``.

Security decision: the app is **not created** without an API key. An ERP endpoint that
answers order proposals to anyone because an environment variable was forgotten is worse
than a server that does not start, so :func:`create_app` raises
:class:`~pipelines.settings.ConfigError` (the CLI's exit code 2) instead.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from fastapi import FastAPI

from pipelines.api.deps import RunStore
from pipelines.api.routes import router
from pipelines.settings import ConfigError, Settings, load_settings

#: Shorter keys start the server with a warning in the log: they can be guessed.
MIN_KEY_LENGTH = 16

logger = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    """Build the API for one configuration.

    Parameters
    ----------
    settings : Settings
        Supplies ``output_dir`` (published runs), ``data_dir`` (the locations table that
        lists dealers) and the API key (``settings.resolved_api_key``: the environment
        variable ``SUPPLYPLAN_API_KEY``, else ``api.api_key``), read once here.

    Returns
    -------
    FastAPI
        Routes ``GET /v1/health`` (no key) and ``GET /v1/order-proposals`` (header
        ``X-API-Key``).

    Raises
    ------
    ConfigError
        No API key is configured (a key shorter than ``MIN_KEY_LENGTH`` characters is
        accepted with a logged warning).
    """
    key = settings.resolved_api_key
    if not key:
        raise ConfigError(
            "no API key configured: set SUPPLYPLAN_API_KEY (or api.api_key in "
            f"{settings.source or 'the configuration'}); the order-proposal endpoint is "
            "never served without one"
        )
    if len(key) < MIN_KEY_LENGTH:
        logger.warning("the API key has only %d characters; use at least %d", len(key), MIN_KEY_LENGTH)
    app = FastAPI(
        title="supplyplan ERP API",
        version="1",
        description=(
            "Order proposals (VMI shipments per dealer) from the latest published nightly "
            "run. Send the key in the `X-API-Key` header."
        ),
    )
    app.state.settings = settings
    app.state.api_key = key
    app.state.store = RunStore(settings.output_dir, settings.data_dir)
    app.include_router(router)
    return app


def app_from_env() -> FastAPI:
    """App for the configuration file named by ``SUPPLYPLAN_CONFIG`` (ASGI factory)."""
    path = os.environ.get("SUPPLYPLAN_CONFIG")
    if not path:
        raise ConfigError("SUPPLYPLAN_CONFIG is not set: it must name a configuration file")
    return create_app(load_settings(Path(path).resolve()))
