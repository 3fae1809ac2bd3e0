"""Vast.ai's real serverless API, called as Vast.ai's official client (``vastai`` on PyPI) calls it.

A guide "worker" is a serverless endpoint (``/api/v0/endptjobs/``) with its worker group
(``/api/v0/workergroups/``); its live GPU workers come from the autoscaler
(``POST /get_endpoint_workers/``). Every request has the official client's method, path, query and JSON body
keys for the same operation (``vastai_conformance`` test), except where Vast.ai's REST reference documents
otherwise; each such place says so.

- ``transport``: one call, with auth, timeouts, back-off and errors that say what to check;
- ``wire``: the official client's request bodies, and its answers read as it reads them, credentials removed;
- ``resource``: :class:`VastAIResource`, the endpoint, worker group, autoscaler and account calls;
- ``billing``: the serverless charges per day.
"""

from vast_pipelines.resources.vast.resource import VastAIResource
from vast_pipelines.resources.vast.transport import VastAIError
from vast_pipelines.resources.vast.wire import AccountCredit, RouteResult, VastEndpoint, VastWorker

__all__ = ["AccountCredit", "RouteResult", "VastAIError", "VastAIResource", "VastEndpoint", "VastWorker"]
