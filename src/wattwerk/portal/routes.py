"""Mount the portal's account, access, data, maintenance and legacy-read routers on the app."""

from __future__ import annotations

from fastapi import FastAPI

from wattwerk.portal import (
    accounts_api,
    admin_api,
    cost_api,
    data_api,
    episodes,
    flukso_read,
    loggers,
    maintenance,
    maintenance_api,
    notify_api,
    operator_api,
    owner_commands,
    pages,
    pairing,
    plans,
    retention_api,
    series_api,
    sites_api,
    tokens_api,
    tunnel,
)

# /api/v1 by resource (portal/api.py has what they share), in the order their routes are matched
API_ROUTERS = (
    accounts_api,
    tokens_api,
    sites_api,
    retention_api,
    data_api,
    maintenance_api,
    notify_api,
    admin_api,
)


def include_all(app: FastAPI, *, reset_tokens_in_response: bool = False) -> FastAPI:
    """Add every router of issue 8's back end. ``reset_tokens_in_response`` is for tests only:
    password-reset tokens are otherwise only logged."""
    app.state.reset_tokens_in_response = reset_tokens_in_response
    app.include_router(series_api.router())  # series and the site's zone (before the others)
    for module in API_ROUTERS:
        app.include_router(module.router())
    app.include_router(pairing.router())  # pairing codes for the edge's wizard (issue 14)
    app.include_router(maintenance.edge_router())
    app.include_router(owner_commands.router())  # the owner's controls, sent over the same channel
    app.include_router(tunnel.router())  # the edge's own page through the same channel (maintenance)
    app.include_router(flukso_read.router())
    app.include_router(loggers.router())  # registering old Flukso/mySmartGrid loggers (issue 14)
    app.include_router(plans.router())  # the edge's plan and PV forecast (issue 8)
    app.include_router(cost_api.router())  # the cost widget's figure, priced per plan slot (issue 18)
    app.include_router(episodes.router())  # the edge's restriction episodes (issue 18)
    app.include_router(operator_api.router())  # the operator view (issue 14)
    app.include_router(operator_api.page_router())
    pages.install(app)  # HTML pages, their API additions, /static
    return app
